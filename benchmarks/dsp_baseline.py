"""The baseline: stemweb's first local engine (DSP, no training), kept for benchmarks only.

benchmarks/separation.py runs it beside the neural engine in the same run, so the gain of the
neural engine is always measured against it on the same machine. The app no longer uses it.

Foreground (speech or vocals) and background (the rest):

A training-free mask estimator built from three classic cues, combined per time-frequency bin:

1. Harmonic/percussive split at high frequency resolution (FitzGerald, "Harmonic/percussive
   separation using median filtering", DAFx 2010). With a ~93 ms window, a voice's moving pitch
   smears along frequency like a percussive event, while sustained instruments stay horizontal.
2. Repeating-background model (REPET-SIM: Rafii & Pardo, "Music/voice separation using the
   similarity matrix", ISMIR 2012). Each frame's background is the median of its most similar
   frames elsewhere in the segment; what does not repeat is foreground.
3. Priors: foreground sits near the stereo centre (inter-channel coherence) and inside the
   voice band (~150 Hz to 6 kHz, tapering off above).

The first two masks are combined by geometric mean, weighted by the priors, and refined by a
second, short-window harmonic/percussive pass (FitzGerald & Gainza 2010's two-stage vocal
separation) that sends drum onsets back to the background.

The background is always ``mixture - foreground``, so the two stems sum to the mixture exactly
(up to float32 rounding). Long inputs are processed in segments of ``segment_s`` seconds that
overlap by ``crossfade_s`` and are cross-faded, so memory stays bounded whatever the duration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import ShortTimeFFT
from scipy.signal.windows import hann

EPS = 1e-10


@dataclass(frozen=True)
class EngineParams:
    """Tuning of the engine. Times are seconds, frequencies Hz; window sizes scale with the rate."""

    window_s: float = 0.0929  # 4096 samples at 44.1 kHz
    refine_window_s: float = 0.0232  # 1024 samples at 44.1 kHz
    median_bins: int = 17  # harmonic/percussive median filter length, frames and bins
    repet_neighbours: int = 19  # odd, so the median is one element
    repet_min_gap_s: float = 0.75  # neighbours must be at least this far away in time
    band_low_hz: float = 150.0
    band_high_hz: float = 6000.0  # the foreground mask tapers linearly to 0 at twice this
    segment_s: float = 10.0  # shorter segments keep REPET-SIM local; 10 s scored best
    crossfade_s: float = 1.0


DEFAULT_PARAMS = EngineParams()


def _window_length(seconds: float, sample_rate: int) -> int:
    """The power of two nearest to ``seconds * sample_rate`` samples (at least 64)."""
    return max(64, 2 ** round(np.log2(seconds * sample_rate)))


def median_filter_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median of odd length ``size`` along ``axis`` of a 2-D array, edges mirrored.

    Equal to ``scipy.ndimage.median_filter`` with a 1-D footprint and ``mode="reflect"``, about
    three times faster for short kernels: one ``np.partition`` over a strided window view.
    """
    half = size // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    windows = sliding_window_view(np.pad(x, pad, mode="symmetric"), size, axis=axis)
    return np.partition(windows, half, axis=-1)[..., half]


def _stft(n_fft: int, sample_rate: int) -> ShortTimeFFT:
    """Hann-windowed STFT with 75 % overlap; its ``istft`` inverts ``stft`` exactly."""
    return ShortTimeFFT(hann(n_fft, sym=False), hop=n_fft // 4, fs=sample_rate)


def _soft_mask(target: np.ndarray, other: np.ndarray) -> np.ndarray:
    return target / (target + other + EPS)


def _band_weights(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    w = np.clip(2.0 - freqs / high, 0.0, 1.0)
    w[freqs < low] = 0.0
    return w.astype(np.float32)


def _repeating_background(mag: np.ndarray, neighbours: int, min_gap: int) -> np.ndarray | None:
    """REPET-SIM background estimate of a (bins, frames) magnitude spectrogram, or None when
    the segment is too short to hold repetitions."""
    frames = mag.shape[1]
    k = min(neighbours, frames - 1 - 2 * min_gap)
    if k < 3:
        return None
    k -= 1 - k % 2  # keep it odd
    unit = mag / (np.linalg.norm(mag, axis=0, keepdims=True) + EPS)
    sim = unit.T @ unit
    lag = np.abs(np.arange(frames)[:, None] - np.arange(frames)[None, :])
    sim[lag < min_gap] = -np.inf
    nearest = np.argpartition(-sim, k, axis=1)[:, :k]  # (frames, k)
    background = np.empty_like(mag)
    step = 256  # bound the (bins, step, k) gather to a few tens of MB
    for start in range(0, frames, step):
        stop = min(frames, start + step)
        gathered = mag[:, nearest[start:stop]]
        background[:, start:stop] = np.partition(gathered, k // 2, axis=2)[:, :, k // 2]
    return np.minimum(background, mag)


def _centre_coherence(spec: np.ndarray) -> np.ndarray:
    """1 where left and right are identical, towards 0 where they differ; (bins, frames)."""
    if spec.shape[0] < 2:
        return np.ones(spec.shape[1:], dtype=np.float32)
    left, right = spec[0], spec[1]
    cross = 2.0 * np.abs(left * np.conj(right))
    return (cross / (np.abs(left) ** 2 + np.abs(right) ** 2 + EPS)).astype(np.float32)


def separate_foreground(
    mixture: np.ndarray, sample_rate: int, params: EngineParams = DEFAULT_PARAMS
) -> np.ndarray:
    """Estimate the foreground of one segment held in memory.

    Args:
        mixture: float32 array of shape (frames, channels), nominally within [-1, 1].
        sample_rate: in Hz.
    Returns:
        The foreground estimate, float32, same shape as ``mixture``. The background is
        ``mixture - foreground``.
    """
    frames, _channels = mixture.shape
    if frames == 0 or not np.any(mixture):
        return np.zeros_like(mixture, dtype=np.float32)
    n_fft = _window_length(params.window_s, sample_rate)
    hop = n_fft // 4
    if frames < n_fft:  # shorter than one window: zero-pad, then cut back at the end
        padded = np.pad(mixture, ((0, n_fft - frames), (0, 0)))
        return separate_foreground(padded, sample_rate, params)[:frames]
    coarse_stft = _stft(n_fft, sample_rate)
    spec = coarse_stft.stft(mixture.T).astype(np.complex64)  # (channels, bins, frames)
    freqs = coarse_stft.f
    weights = _band_weights(freqs, params.band_low_hz, params.band_high_hz)
    # Only bins the band prior lets through need a mask; the rest stay background.
    active = np.flatnonzero(weights > 0)
    lo, hi = active[0], active[-1] + 1
    band = spec[:, lo:hi]
    mag = np.abs(band).mean(axis=0)

    k = params.median_bins
    sustained = median_filter_axis(mag, k, axis=1)
    transient = median_filter_axis(mag, k, axis=0)
    hpss_mask = _soft_mask(transient, sustained)

    min_gap = max(1, round(params.repet_min_gap_s * sample_rate / hop))
    repeating = _repeating_background(mag, params.repet_neighbours, min_gap)
    if repeating is not None:
        mask = np.sqrt(hpss_mask * _soft_mask(mag - repeating, repeating))
    else:
        mask = hpss_mask
    mask *= _centre_coherence(band) * weights[lo:hi, None]
    masked = np.zeros_like(spec)
    masked[:, lo:hi] = band * mask[None]
    del spec, band
    coarse = coarse_stft.istft(masked, k1=frames).astype(np.float32)
    del masked

    # Second pass at ~23 ms: drum hits are vertical lines here, the voice is horizontal.
    fine_stft = _stft(_window_length(params.refine_window_s, sample_rate), sample_rate)
    fine = fine_stft.stft(coarse).astype(np.complex64)
    del coarse
    fine_mag = np.abs(fine).mean(axis=0)
    harmonic = median_filter_axis(fine_mag, k, axis=1)
    percussive = median_filter_axis(fine_mag, k, axis=0)
    fine *= _soft_mask(harmonic, percussive)[None]
    return np.ascontiguousarray(fine_stft.istft(fine, k1=frames).T, dtype=np.float32)


def separate_stream(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    *,
    params: EngineParams = DEFAULT_PARAMS,
    on_frames: Callable[[int], None] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Separate a stream of mixture blocks into (foreground, background) blocks.

    Holds at most one segment (``segment_s + crossfade_s`` seconds) of audio at a time.
    Consecutive segments overlap by ``crossfade_s``; their foreground estimates are blended
    with a linear cross-fade there, and each background block is ``mixture - foreground``.

    Args:
        blocks: float32 arrays of shape (frames, channels) in order, any sizes.
        sample_rate: in Hz.
        on_frames: called with the number of mixture frames finished after each segment.
    Yields:
        (foreground, background) float32 arrays, (frames, channels), in order; together they
        cover every input frame once.
    """
    segment = max(1, round(params.segment_s * sample_rate))
    fade = max(1, round(params.crossfade_s * sample_rate))
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)[:, None]
    pending: list[np.ndarray] = []
    held = 0
    tail: np.ndarray | None = None  # previous segment's foreground over the overlap
    done = 0

    def emit(mix: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        fg = separate_foreground(mix, sample_rate, params)
        if tail is not None:
            n = min(fade, len(fg))
            fg[:n] = tail[:n] * (1.0 - ramp[:n]) + fg[:n] * ramp[:n]
        keep = len(mix) if final else segment
        return fg[:keep], mix[:keep] - fg[:keep], None if final else fg[keep:]

    for block in blocks:
        if len(block) == 0:
            continue
        pending.append(np.asarray(block, dtype=np.float32))
        held += len(block)
        while held >= segment + fade:
            buffer = np.concatenate(pending)
            fg, bg, tail = emit(buffer[: segment + fade], final=False)
            rest = buffer[segment:]
            pending, held = [rest], len(rest)
            done += len(fg)
            if on_frames:
                on_frames(done)
            yield fg, bg
    if held:
        buffer = np.concatenate(pending)
        fg, bg, _ = emit(buffer, final=True)
        done += len(fg)
        if on_frames:
            on_frames(done)
        yield fg, bg


class DspEngine:
    """The baseline behind the neural engine's streaming interface, so that
    ``audio.engine.separator.separate_file`` writes its stems exactly as a job's. One stem set
    only: ``mode`` is ignored."""

    def stream(
        self,
        blocks: Iterable[np.ndarray],
        sample_rate: int,
        mode: object,
        *,
        on_frames: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return separate_stream(blocks, sample_rate, on_frames=on_frames)
