"""What stemweb measures on finished stems, once, in the worker.

- Integrated loudness in LUFS, ITU-R BS.1770-4 (:mod:`audio.loudness`, pyloudnorm's measurement
  streamed); below the standard's -70 LUFS absolute gate a stem counts as having no signal.
- Sample peak in dBFS.
- Waveform peaks: the largest absolute sample (over channels) in each of ``BUCKETS`` equal slices
  of a stem or a project's source, so a browser draws the waveform without decoding the audio
  (stored as :func:`peaks_json`).
- The reconstruction residual of a job, 10·log10(E[(mixture - Σ stems)²] / E[mixture²]) in dB:
  about -150 dB for stems that sum back exactly, near 0 dB when a stem is missing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audio.loudness import LoudnessMeter
from audio.probe import AudioInfo, read_blocks

BUCKETS = 800
SILENCE_LUFS = -70.0


@dataclass(frozen=True)
class StemAnalysis:
    lufs: float | None  # None when below the absolute gate (no signal)
    peak_dbfs: float | None  # None for digital silence
    is_silent: bool
    peaks: list[float]  # BUCKETS values in 0..1


class _Buckets:
    """The largest absolute sample (over channels) in each of ``BUCKETS`` equal slices of
    ``frames`` frames, fed one decoded block after another."""

    def __init__(self, frames: int) -> None:
        self.edges = np.linspace(0, frames, BUCKETS + 1).astype(np.int64)
        self.values = np.zeros(BUCKETS)
        self.done = 0

    def add(self, envelope: np.ndarray) -> None:
        """Take the next block's envelope (its largest absolute sample per frame)."""
        edges, done = self.edges, self.done
        # the buckets this block overlaps: reduce its envelope over each one
        first = int(np.searchsorted(edges, done, side="right")) - 1
        last = int(np.searchsorted(edges, done + len(envelope), side="left"))
        for k in range(max(first, 0), min(last, BUCKETS)):
            lo, hi = max(edges[k] - done, 0), min(edges[k + 1] - done, len(envelope))
            if hi > lo:
                self.values[k] = max(self.values[k], float(envelope[lo:hi].max()))
        self.done += len(envelope)

    def peaks(self) -> list[float]:
        return [round(float(v), 4) for v in self.values]


def analyze_stem(path: Path, info: AudioInfo) -> StemAnalysis:
    """Measure one decode-checked stem in one streamed pass: memory holds one decoded block
    and a few numbers per 100 ms, whatever the duration."""
    meter = LoudnessMeter(info.sample_rate, info.channels, info.frames)
    buckets = _Buckets(info.frames)
    peak = 0.0
    for block in read_blocks(path, info):
        meter.add(block)
        envelope = np.abs(block).max(axis=1)
        peak = max(peak, float(envelope.max()) if len(envelope) else 0.0)
        buckets.add(envelope)
    loudness: float | None = None
    if peak > 0 and buckets.done >= int(0.4 * info.sample_rate):  # BS.1770 blocks are 400 ms
        measured = meter.integrated()
        loudness = measured if math.isfinite(measured) and measured > SILENCE_LUFS else None
    return StemAnalysis(
        lufs=round(loudness, 2) if loudness is not None else None,
        peak_dbfs=round(20 * math.log10(peak), 2) if peak > 0 else None,
        is_silent=loudness is None,
        peaks=buckets.peaks(),
    )


def waveform_peaks(path: Path, info: AudioInfo) -> list[float]:
    """The waveform peaks (``BUCKETS`` values in 0..1) of a recording, such as a project's
    source, in one streamed pass; decoding errors propagate (``soundfile`` or PyAV's)."""
    buckets = _Buckets(info.frames)
    for block in read_blocks(path, info):
        buckets.add(np.abs(block).max(axis=1))
    return buckets.peaks()


def peaks_json(peaks: list[float], duration_s: float) -> str:
    """The stored waveform file of a stem or a source, as the players fetch it:
    ``{"buckets": n, "duration_s": seconds, "peaks": [n values in 0..1]}``, compact JSON."""
    document = {"buckets": len(peaks), "duration_s": duration_s, "peaks": peaks}
    return json.dumps(document, separators=(",", ":"))


def residual_db(mixture: Path, mixture_info: AudioInfo, stems: list[Path]) -> float | None:
    """The reconstruction residual in dB, streamed block by block; None when the stems cannot be
    read alongside the mixture (another rate or channel count)."""
    readers = [sf.SoundFile(str(p)) for p in stems]
    try:
        if any(
            r.samplerate != mixture_info.sample_rate or r.channels != mixture_info.channels
            for r in readers
        ):
            return None
        signal = error = 0.0
        for block in read_blocks(mixture, mixture_info):
            total = np.zeros_like(block, dtype=np.float64)
            for reader in readers:
                part = reader.read(len(block), dtype="float64", always_2d=True)
                total[: len(part)] += part
            signal += float(np.sum(block.astype(np.float64) ** 2))
            error += float(np.sum((block - total) ** 2))
        if signal == 0:
            return None
        return round(10 * math.log10(max(error, 1e-30) / signal), 2)
    finally:
        for reader in readers:
            reader.close()
