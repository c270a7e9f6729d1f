"""Stems for the sandbox's providers: the local engine's split, then the background cut into
frequency bands when a model promises more stems than two.

One engine serves the whole sandbox process; a lock lets one split run at a time, since the
engine's DeepFilterNet state is not thread-safe. The engine is deterministic, so the stems of a
recording it has split are kept (by content and stem names, the last ``KEPT`` splits, in a
temporary directory) and copied for the next task with the same recording: the tests and the
demos send the same few recordings again and again.

Stand-ins, not real instrument separation: each stem is real audio of the source's length, and
all of them sum to the mixture (band k is the difference of two cumulative low-passes, the last
band is what remains), which is what the sandbox must guarantee.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from collections import OrderedDict
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
KEPT = 32  # splits kept for recordings sent again
_kept: OrderedDict[tuple[str, tuple[str, ...]], dict[str, Path]] = OrderedDict()
_kept_dir: Path | None = None


@cache
def _engine() -> Engine:
    return load_engine()


def split(source: Path, names: Sequence[str], out_dir: Path) -> dict[str, Path]:
    """Write one FLAC per name into ``out_dir``; the first name gets the foreground.

    Holds the whole file in memory: fine for the sandbox's test and demo recordings.
    """
    key = (_sha256(source), tuple(names))
    out_dir.mkdir(parents=True, exist_ok=True)
    with _engine_lock:
        if key in _kept:
            _kept.move_to_end(key)
            return {name: Path(shutil.copy(path, out_dir)) for name, path in _kept[key].items()}
        paths = _split(source, names, out_dir)
        _keep(key, paths)
    return paths


def _split(source: Path, names: Sequence[str], out_dir: Path) -> dict[str, Path]:
    info = probe(source)
    pairs = list(_engine().stream(read_blocks(source, info), info.sample_rate, Mode.FOREGROUND))
    fg = np.concatenate([p[0] for p in pairs])
    bg = np.concatenate([p[1] for p in pairs])
    parts = [fg, *_bands(bg, info.sample_rate, len(names) - 1)]
    paths = {}
    for name, audio in zip(names, parts, strict=True):
        paths[name] = out_dir / f"{name}.flac"
        sf.write(paths[name], np.clip(audio, -1.0, 1.0 - 2.0**-23), info.sample_rate, "PCM_24")
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _keep(key: tuple[str, tuple[str, ...]], paths: dict[str, Path]) -> None:
    """Copy a split's files aside for a recording sent again (under ``_engine_lock``)."""
    global _kept_dir
    if _kept_dir is None:
        _kept_dir = Path(tempfile.mkdtemp(prefix="stemweb-sandbox-splits-"))
        atexit.register(shutil.rmtree, _kept_dir, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=_kept_dir))
    _kept[key] = {name: Path(shutil.copy(path, folder)) for name, path in paths.items()}
    while len(_kept) > KEPT:
        _, old = _kept.popitem(last=False)
        shutil.rmtree(next(iter(old.values())).parent, ignore_errors=True)


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
