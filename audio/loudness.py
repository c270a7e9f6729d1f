"""Integrated loudness (ITU-R BS.1770-4) measured block by block, in memory that does not grow
with the samples.

The same measurement as ``pyloudnorm.Meter(rate).integrated_loudness(audio)``: its K-weighting
filters (``pyloudnorm.IIRfilter``: a +4 dB high shelf at 1500 Hz, Q 1/sqrt(2), then a high-pass
at 38 Hz, Q 0.5), its 400 ms gating blocks with 75 % overlap and the same block bounds, channel
gains 1, 1, 1, 1.41, 1.41, the absolute gate at -70 LUFS and the relative gate 10 LU below.
Instead of filtering the whole signal at once, the filters run over each block with their state
carried along (``scipy.signal.lfilter`` with ``zi``), and only the running sum of squares at each
gating block's bounds is kept: two numbers per channel per 100 ms.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
from scipy.signal import lfilter, lfilter_zi

BLOCK_S = 0.400  # gating block
STEP = 0.25  # of a block: 75 % overlap
ABSOLUTE_GATE_LUFS = -70.0
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs


class LoudnessMeter:
    """Feed (frames, channels) blocks with :meth:`add`, then read :meth:`integrated`.

    Args:
        sample_rate: in Hz.
        channels: 1 to 5 (BS.1770's channel gains).
        frames: the total number of frames that will be fed (it fixes the gating blocks).
    Raises:
        ValueError: more than five channels.
    """

    def __init__(self, sample_rate: int, channels: int, frames: int) -> None:
        if channels > len(CHANNEL_GAINS):
            raise ValueError(f"BS.1770 weighs at most {len(CHANNEL_GAINS)} channels")
        self.rate = sample_rate
        self.channels = channels
        self._stages = []
        for gain_db, q, fc, kind in ((4.0, 1 / math.sqrt(2), 1500.0, "high_shelf"),
                                     (0.0, 0.5, 38.0, "high_pass")):  # fmt: skip
            stage = pyloudnorm.IIRfilter(gain_db, q, fc, sample_rate, kind)
            zi = lfilter_zi(stage.b, stage.a) * 0.0  # start at rest, as a whole-signal lfilter
            self._stages.append((stage.b, stage.a, stage.passband_gain, np.tile(zi, (channels, 1))))
        seconds = frames / sample_rate
        blocks = max(0, round((seconds - BLOCK_S) / (BLOCK_S * STEP)) + 1)
        bounds = sorted(
            {int(BLOCK_S * (j * STEP + k) * sample_rate) for j in range(blocks) for k in (0, 1)}
        )
        self._blocks = blocks
        self._bounds = np.array(bounds, dtype=np.int64)
        self._energy_at = np.zeros((len(bounds), channels))  # sum of squares up to each bound
        self._next = 0  # index of the next bound to record
        self._done = 0  # frames fed so far
        self._energy = np.zeros(channels)

    def add(self, block: np.ndarray) -> None:
        """Filter one block of the signal, shape (frames, channels), and keep what gating needs."""
        x = np.asarray(block, dtype=np.float64).T  # (channels, frames)
        for i, (b, a, gain, zi) in enumerate(self._stages):
            x, state = lfilter(b, a, x, axis=1, zi=zi)
            self._stages[i] = (b, a, gain, state)
            x = x * gain
        squares = np.cumsum(x * x, axis=1)  # (channels, frames)
        start, end = self._done, self._done + x.shape[1]
        while self._next < len(self._bounds) and self._bounds[self._next] <= end:
            offset = int(self._bounds[self._next]) - start
            self._energy_at[self._next] = self._energy + (squares[:, offset - 1] if offset else 0)
            self._next += 1
        if x.shape[1]:
            self._energy = self._energy + squares[:, -1]
        self._done = end

    def integrated(self) -> float:
        """Integrated loudness in LUFS of the blocks fed in full (all of them, unless a decode
        stopped short of the frames announced); -inf when no block passes the gates (silence)."""
        index = {int(b): i for i, b in enumerate(self._bounds)}
        size = BLOCK_S * self.rate
        spans = [
            (index[int(BLOCK_S * (j * STEP) * self.rate)], upper)
            for j in range(self._blocks)
            if (upper := index[int(BLOCK_S * (j * STEP + 1) * self.rate)]) < self._next
        ]
        if not spans:
            return -math.inf
        z = np.empty((len(spans), self.channels))
        for j, (lower, upper) in enumerate(spans):
            z[j] = (self._energy_at[upper] - self._energy_at[lower]) / size
        gains = np.array(CHANNEL_GAINS[: self.channels])
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(z @ gains)
        gated = loudness >= ABSOLUTE_GATE_LUFS
        if not gated.any():
            return -math.inf
        relative = -0.691 + 10 * math.log10(float(z[gated].mean(axis=0) @ gains)) - 10.0
        gated = (loudness > relative) & (loudness > ABSOLUTE_GATE_LUFS)
        if not gated.any():
            return -math.inf
        return -0.691 + 10 * math.log10(float(z[gated].mean(axis=0) @ gains))
