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
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.loudness import CHANNEL_GAINS, LoudnessMeter
from audio.probe import BLOCK_FRAMES, AudioError, AudioInfo, Decoder, read_blocks

log = logging.getLogger(__name__)

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


def _envelope(block: np.ndarray) -> np.ndarray:
    """The largest absolute sample over channels of each frame of a (frames, channels) block:
    ``np.abs(block).max(axis=1)``, channel by channel, which numpy does 80 times faster than
    reducing a 2-wide axis."""
    envelope = np.abs(block[:, 0])
    for channel in range(1, block.shape[1]):
        np.maximum(envelope, np.abs(block[:, channel]), out=envelope)
    return envelope


class _StemMeter:
    """A stem's loudness, sample peak and waveform peaks, fed one decoded block after another:
    memory holds a few numbers per 100 ms, whatever the duration.

    Raises:
        ValueError: more channels than BS.1770 weighs (see :mod:`audio.loudness`).
    """

    def __init__(self, sample_rate: int, channels: int, frames: int) -> None:
        self.rate = sample_rate
        self.loudness = LoudnessMeter(sample_rate, channels, frames)
        self.buckets = _Buckets(frames)
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        """Take the next block, shape (frames, channels)."""
        self.loudness.add(block)
        envelope = _envelope(block)
        self.peak = max(self.peak, float(envelope.max()) if len(envelope) else 0.0)
        self.buckets.add(envelope)

    def result(self) -> StemAnalysis:
        loudness: float | None = None
        if self.peak > 0 and self.buckets.done >= int(0.4 * self.rate):  # BS.1770: 400 ms blocks
            measured = self.loudness.integrated()
            loudness = measured if math.isfinite(measured) and measured > SILENCE_LUFS else None
        return StemAnalysis(
            lufs=round(loudness, 2) if loudness is not None else None,
            peak_dbfs=round(20 * math.log10(self.peak), 2) if self.peak > 0 else None,
            is_silent=loudness is None,
            peaks=self.buckets.peaks(),
        )


def analyze_stem(path: Path, info: AudioInfo) -> StemAnalysis:
    """Measure one decode-checked stem in one streamed pass: memory holds one decoded block
    and a few numbers per 100 ms, whatever the duration.

    Raises:
        ValueError: more than five channels (BS.1770 weighs no more).
    """
    meter = _StemMeter(info.sample_rate, info.channels, info.frames)
    for block in read_blocks(path, info):
        meter.add(block)
    return meter.result()


def waveform_peaks(path: Path, info: AudioInfo) -> list[float]:
    """The waveform peaks (``BUCKETS`` values in 0..1) of a recording, such as a project's
    source, in one streamed pass; decoding errors propagate (``soundfile`` or PyAV's)."""
    buckets = _Buckets(info.frames)
    for block in read_blocks(path, info):
        buckets.add(_envelope(block))
    return buckets.peaks()


def peaks_json(peaks: list[float], duration_s: float) -> str:
    """The stored waveform file of a stem or a source, as the players fetch it:
    ``{"buckets": n, "duration_s": seconds, "peaks": [n values in 0..1]}``, compact JSON."""
    document = {"buckets": len(peaks), "duration_s": duration_s, "peaks": peaks}
    return json.dumps(document, separators=(",", ":"))


class UnreadableStem(AudioError):
    """A stem of :func:`measure_stems` that is not valid audio: ``name`` says which, and
    ``str(error)`` why, in ``probe``'s words."""

    def __init__(self, name: str, reason: AudioError) -> None:
        super().__init__(str(reason))
        self.name = name


@dataclass(frozen=True)
class MeasuredStem:
    info: AudioInfo  # what decoding the stem found, as ``probe`` gives it
    analysis: StemAnalysis | None  # None when it has more channels than loudness weighs


@dataclass(frozen=True)
class Measurement:
    """What :func:`measure_stems` found."""

    stems: dict[str, MeasuredStem]
    mixture: AudioInfo | None  # None without a mixture, or when it is not valid audio
    mixture_error: AudioError | None  # why the mixture is not valid audio, in probe's words
    residual_db: float | None  # see the module's docstring; None when it cannot be measured


def measure_stems(stems: Mapping[str, Path], mixture: Path | None = None) -> Measurement:
    """Decode-check the named stems, measure each, and their residual against ``mixture``, in
    one streamed pass: each file is decoded once, ``BLOCK_FRAMES`` at a time, all of them side
    by side, so memory holds one block per file whatever the duration.

    Each stem gets ``probe``'s checks and info, and :func:`analyze_stem`'s measurements. Those
    need the length beforehand, so a stem whose header gives none (a FLAC written as a stream)
    or more than it holds (an MP3's estimate) is measured again once its length is known.

    The residual is 10·log10(E[(mixture - Σ stems)²] / E[mixture²]) over the mixture's frames,
    a shorter stem counting as silence after its end; None when a stem's rate or channel count
    differs from the mixture's, or the mixture is silent or not valid audio (that is not an
    error here: the mixture is a project's source, already checked, or a platform's track,
    whose caller decides from ``mixture_error``).

    A measurement that fails (a bug, never the audio: that is the decode check's) is logged and
    leaves that stem's analysis, or the residual, None; it never fails the stems.

    Raises:
        UnreadableStem: a stem is not valid audio (the first found).
    """
    with ExitStack() as files:
        decoders: dict[str, Decoder] = {}
        for name, path in stems.items():
            try:
                decoders[name] = files.enter_context(Decoder(path))
            except AudioError as exc:
                raise UnreadableStem(name, exc) from None
        mix: Decoder | None = None
        mixture_error: AudioError | None = None
        if mixture is not None:
            try:
                mix = files.enter_context(Decoder(mixture))
            except AudioError as exc:
                mixture_error = exc
        meters = {
            name: _StemMeter(d.sample_rate, d.channels, d.announced)
            for name, d in decoders.items()
            if d.announced is not None and d.channels <= len(CHANNEL_GAINS)
        }
        residual = None
        if mix is not None and all(
            (d.sample_rate, d.channels) == (mix.sample_rate, mix.channels)
            for d in decoders.values()
        ):
            residual = _Residual()
        failed: set[str] = set()  # stems whose measurement failed: left unmeasured
        streams = {name: _Frames(d.blocks()) for name, d in decoders.items()}
        mix_stream = _Frames(mix.blocks()) if mix is not None else None
        while True:
            parts = []
            for name, stream in streams.items():
                try:
                    block = stream.take(BLOCK_FRAMES)
                except AudioError as exc:
                    raise UnreadableStem(name, exc) from None
                if block is not None:
                    parts.append(block)
                    if name in meters and not _measured(name, meters[name].add, block):
                        del meters[name]
                        failed.add(name)
            mix_block = None
            if mix_stream is not None:
                try:
                    mix_block = mix_stream.take(BLOCK_FRAMES)
                except AudioError as exc:
                    mixture_error, mix, mix_stream, residual = exc, None, None, None
            if (
                mix_block is not None
                and residual is not None
                and not _measured("the residual", residual.add, mix_block, parts)
            ):
                residual = None
            if not parts and mix_block is None:
                break
        measured = {}
        for name, decoder in decoders.items():
            try:
                info = decoder.info()
            except AudioError as exc:
                raise UnreadableStem(name, exc) from None
            meter = meters.get(name)
            analysis: StemAnalysis | None = None
            try:
                if meter is not None and decoder.announced == info.frames:  # built to length
                    analysis = meter.result()
                elif name not in failed and info.channels <= len(CHANNEL_GAINS):
                    analysis = analyze_stem(stems[name], info)
            except AudioError as exc:
                raise UnreadableStem(name, exc) from None
            except Exception:
                log.warning("measuring the %s stem failed", name, exc_info=True)
            measured[name] = MeasuredStem(info, analysis)
        mixture_info = None
        if mix is not None:
            try:
                mixture_info = mix.info()
            except AudioError as exc:
                mixture_error, residual = exc, None
    return Measurement(
        stems=measured,
        mixture=mixture_info,
        mixture_error=mixture_error,
        residual_db=residual.db() if residual is not None else None,
    )


def _measured(what: str, add: Callable[..., None], *args: object) -> bool:
    """Feed a block to the measurement of ``what``; False, logged, when it failed (the caller
    then drops it)."""
    try:
        add(*args)
    except Exception:
        log.warning("measuring %s failed", what, exc_info=True)
        return False
    return True


class _Frames:
    """A stream of decoded blocks, cut again to the sizes asked for; holds at most one block."""

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._rest: np.ndarray | None = None

    def take(self, frames: int) -> np.ndarray | None:
        """The next ``frames`` frames, fewer at the end; None once the stream has ended."""
        parts, have = [], 0
        while have < frames:
            if self._rest is None or not len(self._rest):
                self._rest = next(self._blocks, None)
                if self._rest is None:
                    break
            part, self._rest = self._rest[: frames - have], self._rest[frames - have :]
            parts.append(part)
            have += len(part)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _Residual:
    """The sums of squares of the mixture and of what the stems leave of it, block by block."""

    def __init__(self) -> None:
        self.signal = self.error = 0.0

    def add(self, mixture: np.ndarray, stems: list[np.ndarray]) -> None:
        """Take a block of the mixture and the stems' blocks at the same frames (a stem's block
        may be shorter or longer: what lies past the mixture's block is not its own)."""
        mixture = mixture.astype(np.float64)
        rest = mixture.copy()
        for part in stems:
            overlap = min(len(part), len(mixture))
            rest[:overlap] -= part[:overlap]
        self.signal += float(np.sum(mixture**2))
        self.error += float(np.sum(rest**2))

    def db(self) -> float | None:
        if self.signal == 0:
            return None
        return round(10 * math.log10(max(self.error, 1e-30) / self.signal), 2)
