"""Stems for the sandbox's providers: the local engine's split, then the background cut into
frequency bands when a model promises more stems than two.

One engine serves the whole sandbox process; a lock lets one split run at a time, since the
engine's DeepFilterNet state is not thread-safe.

Stand-ins, not real instrument separation: each stem is real audio of the source's length, and
all of them sum to the mixture (band k is the difference of two cumulative low-passes, the last
band is what remains), which is what the sandbox must guarantee.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

from audio.engine.fusion import Mode
from audio.engine.separator import Engine
from audio.probe import probe, read_blocks
from providers.local.client import load_engine

_engine_lock = threading.Lock()


@cache
def _engine() -> Engine:
    return load_engine()


def split(source: Path, names: Sequence[str], out_dir: Path) -> dict[str, Path]:
    """Write one FLAC per name into ``out_dir``; the first name gets the foreground.

    Holds the whole file in memory: fine for the sandbox's test and demo recordings.
    """
    info = probe(source)
    with _engine_lock:
        engine = _engine()
        pairs = list(engine.stream(read_blocks(source, info), info.sample_rate, Mode.FOREGROUND))
    fg = np.concatenate([p[0] for p in pairs])
    bg = np.concatenate([p[1] for p in pairs])
    parts = [fg, *_bands(bg, info.sample_rate, len(names) - 1)]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, audio in zip(names, parts, strict=True):
        paths[name] = out_dir / f"{name}.flac"
        sf.write(paths[name], np.clip(audio, -1.0, 1.0 - 2.0**-23), info.sample_rate, "PCM_24")
    return paths


def _bands(audio: np.ndarray, sample_rate: int, count: int) -> list[np.ndarray]:
    """``count`` signals summing to ``audio``, split at log-spaced crossovers."""
    if count == 1:
        return [audio]
    nyquist = sample_rate / 2
    edges = np.geomspace(120.0, min(12000.0, nyquist * 0.9), count - 1)
    bands, below = [], np.zeros_like(audio)
    for edge in edges:
        lowpass = sosfilt(butter(4, edge, fs=sample_rate, output="sos"), audio, axis=0)
        bands.append(lowpass - below)
        below = lowpass
    bands.append(audio - below)
    return [b.astype(np.float32) for b in bands]
