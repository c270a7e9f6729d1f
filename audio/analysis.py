"""What stemweb measures on finished stems, once, in the worker.

- Integrated loudness in LUFS, ITU-R BS.1770-4 (:mod:`audio.loudness`, pyloudnorm's measurement
  streamed); below the standard's -70 LUFS absolute gate a stem counts as having no signal.
- Sample peak in dBFS.
- Waveform peaks: the largest absolute sample (over channels) in each of ``BUCKETS`` equal slices
  of the stem, so a browser draws the waveform without decoding the audio.
- The reconstruction residual of a job, 10·log10(E[(mixture - Σ stems)²] / E[mixture²]) in dB:
  about -150 dB for stems that sum back exactly, near 0 dB when a stem is missing.
"""

from __future__ import annotations

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


def analyze_stem(path: Path, info: AudioInfo) -> StemAnalysis:
    """Measure one decode-checked stem in one streamed pass: memory holds one decoded block
    and a few numbers per 100 ms, whatever the duration."""
    meter = LoudnessMeter(info.sample_rate, info.channels, info.frames)
    edges = np.linspace(0, info.frames, BUCKETS + 1).astype(np.int64)
    bucket_peaks = np.zeros(BUCKETS)
    peak, done = 0.0, 0
    for block in read_blocks(path, info):
        meter.add(block)
        envelope = np.abs(block).max(axis=1)
        peak = max(peak, float(envelope.max()) if len(envelope) else 0.0)
        # the buckets this block overlaps: reduce its envelope over each one
        first = int(np.searchsorted(edges, done, side="right")) - 1
        last = int(np.searchsorted(edges, done + len(block), side="left"))
        for k in range(max(first, 0), min(last, BUCKETS)):
            lo, hi = max(edges[k] - done, 0), min(edges[k + 1] - done, len(block))
            if hi > lo:
                bucket_peaks[k] = max(bucket_peaks[k], float(envelope[lo:hi].max()))
        done += len(block)
    loudness: float | None = None
    if peak > 0 and done >= int(0.4 * info.sample_rate):  # BS.1770 blocks are 400 ms
        measured = meter.integrated()
        loudness = measured if math.isfinite(measured) and measured > SILENCE_LUFS else None
    peaks = [round(float(v), 4) for v in bucket_peaks]
    return StemAnalysis(
        lufs=round(loudness, 2) if loudness is not None else None,
        peak_dbfs=round(20 * math.log10(peak), 2) if peak > 0 else None,
        is_silent=loudness is None,
        peaks=peaks,
    )


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
