"""Audio probing and streaming decode for uploads and stems.

``probe`` reads a file's header, checks what it announces against the site's limits, then decodes
it in blocks before stemweb accepts it: the extension, the client's MIME type and the header's
claimed length are never trusted for more than refusing early. WAV, FLAC, OGG and MP3 are read
with libsndfile (soundfile); AAC/M4A with FFmpeg (PyAV), trimmed to the container's probed
duration so the decoder's end padding does not lengthen the audio.

The decoding is bounded by the limits, never by what the header announces: a file announcing
more than ``Limits.longest_s`` (or more channels, or a higher rate) is refused before any
decoding, and decoding stops once it passes that length whatever the header said. A web request
decodes at most ``budget_s`` seconds (``AudioInfo.complete`` is then False) and leaves the whole
decode to the worker.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import av
import numpy as np
import soundfile as sf

from audio.audioinfo import (
    ACCEPTED_LABEL,
    AudioError,
    AudioInfo,
    Limits,
    format_duration,
    require_duration,
    too_long,
)

# What callers import from here: probing and decoding, and the facts and errors they give.
__all__ = [
    "ACCEPTED_LABEL",
    "BLOCK_FRAMES",
    "AudioError",
    "AudioInfo",
    "Decoder",
    "Limits",
    "probe",
    "read_blocks",
    "reader_for",
    "require_duration",
]

BLOCK_FRAMES = 65536
# What libsndfile reports as the length of a FLAC whose header leaves it out (SF_COUNT_MAX).
_UNKNOWN_FRAMES = 2**63 - 1
# An AAC decoder adds up to two 1024-frame blocks (priming, the last block's rest) to the length
# the container gives; more than this past it is audio the header left out (FFmpeg estimates a
# raw .aac file's length from its first frames' bitrate).
_DECODER_PADDING = 4096

# libsndfile major format -> (container label, file extension)
_SNDFILE_FORMATS = {
    "WAV": ("WAV", "wav"),
    "WAVEX": ("WAV", "wav"),
    "RF64": ("WAV", "wav"),
    "FLAC": ("FLAC", "flac"),
    "OGG": ("OGG", "ogg"),
    "MP3": ("MP3", "mp3"),
}
# Containers whose header gives the exact length, so decoding less than it means a cut file.
_EXACT_LENGTH = {"WAV", "FLAC"}
# FFmpeg demuxer name -> (container label, file extension); only for codecs below.
_FFMPEG_FORMATS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("M4A", "m4a"),
    "aac": ("AAC", "aac"),
}
_FFMPEG_CODECS = {"aac"}


def reader_for(container: str) -> str:
    """Which decoder reads a container that ``probe`` accepted: "soundfile" or "pyav"."""
    return "pyav" if container in {label for label, _ in _FFMPEG_FORMATS.values()} else "soundfile"


def probe(
    path: str | os.PathLike[str],
    *,
    limits: Limits | None = None,
    budget_s: float | None = None,
) -> AudioInfo:
    """Read ``path``'s header, check it against ``limits``, decode it, and describe it.

    Args:
        limits: refuse, before decoding, a header announcing more channels, a higher rate or a
            longer duration; and stop decoding (refusing the file) once it passes
            ``limits.longest_s``, whatever the header said. None: no limits (decodes it all).
        budget_s: decode at most this many seconds from the start, so the work does not grow
            with the file: a longer file is described by its header, with ``complete`` False,
            and what only a whole decode finds (a cut or corrupt end, silence) is left to
            ``probe(path, limits=...)`` later, off the web (the worker does it). The end is not
            sampled instead: seeking in a FLAC whose header lies can cost a decode of its
            announced length.
    Raises:
        AudioError: empty file, not audio, no audio stream, an unsupported format, over the
            limits, corrupt or truncated data, no samples at all, or (with a budget) a header
            that does not give the length or gives less than the file holds. The message says
            which, in plain words.
    """
    with Decoder(path, limits=limits, budget_s=budget_s) as decoder:
        for _ in decoder.blocks():
            pass
        return decoder.info()


class Decoder:
    """A file decoded once, block by block, with ``probe``'s checks, so a caller that reads the
    audio anyway (collecting stems measures them) checks it in the same pass.

    Opening reads the header and refuses what it announces beyond ``limits`` (no decoding);
    :meth:`blocks` decodes, refusing corrupt data; :meth:`info` then settles what the decode
    found: ``probe(path, limits=..., budget_s=...)`` is exactly that. ``sample_rate`` and
    ``channels`` are the header's; ``announced`` is the header's length in frames, None when
    it gives none. Use it as a context manager, which closes the file.

    Raises:
        AudioError: as ``probe``, each check where it is made.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limits: Limits | None = None,
        budget_s: float | None = None,
    ) -> None:
        self._limits, self._budget_s = limits, budget_s
        self._sound: sf.SoundFile | None = None
        self._container: av.container.InputContainer | None = None
        self.decoded = 0  # frames decoded so far, including any not yielded (see blocks)
        self.peak = 0.0  # largest absolute sample decoded so far
        if os.path.getsize(path) == 0:
            raise AudioError("The file is empty (0 bytes).")
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, TypeError):
            self._open_ffmpeg(path)
        else:
            self._open_sndfile(path, info)

    def _open_sndfile(self, path: str | os.PathLike[str], info: sf._SoundFileInfo) -> None:
        if info.format not in _SNDFILE_FORMATS:
            raise AudioError(
                f"{info.format_info or info.format} files are not supported. "
                f"Upload {ACCEPTED_LABEL}."
            )
        if info.frames <= 0:
            raise AudioError(
                "The file has an audio header but no audio samples: the data it announces is "
                "missing."
            )
        self.container, self.extension = _SNDFILE_FORMATS[info.format]
        self.codec, self.reader = info.subtype, "soundfile"
        self.sample_rate, self.channels = info.samplerate, info.channels
        self.announced = None if info.frames >= _UNKNOWN_FRAMES else info.frames
        self._stop = _check_header(
            self._limits, self._budget_s, self.sample_rate, self.channels, self.announced
        )
        try:
            self._sound = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise _corrupt(exc) from None
        # libsndfile reads no further than the header's length; ``frames`` bounds it too.
        to_read = -1 if self._stop is None else min(self._stop + 1, self._sound.frames)
        self._source = self._sound.blocks(
            blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True, frames=to_read
        )

    def _open_ffmpeg(self, path: str | os.PathLike[str]) -> None:
        try:
            self._container = av.open(str(path))
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
            raise AudioError(
                f"This is not an audio file stemweb can read. Upload {ACCEPTED_LABEL}."
            ) from None
        if not self._container.streams.audio:
            self.close()
            raise AudioError("The file has no audio stream (it may be an image or a video).")
        stream = self._container.streams.audio[0]
        fmt, codec = self._container.format.name, stream.codec_context.name
        if fmt not in _FFMPEG_FORMATS or codec not in _FFMPEG_CODECS:
            self.close()
            raise AudioError(f"{fmt}/{codec} audio is not supported. Upload {ACCEPTED_LABEL}.")
        self.container, self.extension = _FFMPEG_FORMATS[fmt]
        self.codec, self.reader = codec, "pyav"
        self.sample_rate, self.channels = stream.rate, stream.channels
        self.announced = _probed_frames(self._container, stream)
        try:
            self._stop = _check_header(
                self._limits, self._budget_s, self.sample_rate, self.channels, self.announced
            )
        except AudioError:
            self.close()
            raise
        limit = None if self._stop is None else self._stop + 1
        self._source = _ffmpeg_blocks(self._container, stream, limit=limit)

    def blocks(self) -> Iterator[np.ndarray]:
        """Decode the file, yielding float32 arrays of shape (frames, channels) in order: the
        frames ``read_blocks(path, self.info())`` gives. What an AAC decoder adds past the
        container's length (its end padding) is decoded and checked but not yielded.

        Raises:
            AudioError: corrupt or truncated data that fails to decode.
        """
        keep = self.announced if self.reader == "pyav" else None
        try:
            for block in self._source:
                self.decoded += len(block)
                if len(block):
                    self.peak = max(self.peak, float(block.max()), -float(block.min()))
                if keep is not None:
                    block = block[: max(keep - (self.decoded - len(block)), 0)]
                if len(block):
                    yield block
        except (sf.LibsndfileError, RuntimeError, av.error.FFmpegError) as exc:
            raise _corrupt(exc) from None

    def info(self) -> AudioInfo:
        """What the file is, once :meth:`blocks` has been read to its end.

        Raises:
            AudioError: too long for the limits, shorter than an exact header says, no samples
                at all, or (with a budget) a header without a length or with too short a one.
        """
        frames, complete = _settle(
            self.decoded,
            self._stop,
            self._limits,
            self._budget_s,
            self.sample_rate,
            self.announced,
        )
        announced = self.announced
        if complete and self.reader == "pyav":
            frames = min(frames, announced or frames)
        if (
            complete
            and self.container in _EXACT_LENGTH
            and announced is not None
            and frames < announced
        ):
            raise AudioError(
                f"The file is truncated: its header promises {announced} frames "
                f"but only {frames} could be decoded."
            )
        if frames == 0:
            raise AudioError("The file contains no audio samples.")
        return AudioInfo(
            container=self.container,
            codec=self.codec,
            extension=self.extension,
            sample_rate=self.sample_rate,
            channels=self.channels,
            frames=frames,
            reader=self.reader,
            peak=self.peak,
            complete=complete,
            checked_frames=self.decoded,
        )

    def close(self) -> None:
        if self._sound is not None:
            self._sound.close()
        if self._container is not None:
            self._container.close()

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _corrupt(exc: Exception) -> AudioError:
    return AudioError(f"The file is corrupt or truncated: decoding failed ({exc}).")


def _check_header(
    limits: Limits | None,
    budget_s: float | None,
    sample_rate: int,
    channels: int,
    announced: int | None,
) -> int | None:
    """Refuse what the header announces beyond ``limits``, before any decoding; return how many
    frames to decode before stopping (None: to the end)."""
    if sample_rate <= 0 or channels <= 0:
        raise AudioError("The file's header describes no playable audio (no channels or rate).")
    if limits is not None:
        if announced is not None and announced / sample_rate > limits.longest_s:
            raise too_long(announced / sample_rate, limits.longest_s)
        if channels > limits.channels:
            raise AudioError(
                f"The recording has {channels} channels; the most stemweb takes is "
                f"{limits.channels}."
            )
        if sample_rate > limits.sample_rate:
            raise AudioError(
                f"The recording's sample rate is {sample_rate / 1000:g} kHz; the highest "
                f"stemweb takes is {limits.sample_rate / 1000:g} kHz."
            )
    bounds = []
    if limits is not None:
        bounds.append(math.floor(limits.longest_s * sample_rate))
    if budget_s is not None:
        bounds.append(math.ceil(budget_s * sample_rate))
    return min(bounds) if bounds else None


def _settle(
    decoded: int,
    stop: int | None,
    limits: Limits | None,
    budget_s: float | None,
    sample_rate: int,
    announced: int | None,
) -> tuple[int, bool]:
    """(frames, complete) after decoding up to ``stop + 1`` frames: reaching ``stop + 1`` means
    the file goes on, which is too long past the limit, else beyond the budget. A file that goes
    on beyond the budget is described by its header, so one that gives no length, or less than
    was already decoded, is refused."""
    if stop is None or decoded <= stop:
        return decoded, True
    if limits is not None and decoded > limits.longest_s * sample_rate:
        raise too_long(None, limits.longest_s)
    assert budget_s is not None  # stop came from the budget, since the limit was not passed
    checked = format_duration(budget_s)
    if announced is None:
        raise AudioError(
            "The file's header does not say how long the recording is, and it is longer than "
            f"the {checked} stemweb checks on upload: export it again (encoders normally write "
            "the length) and upload that."
        )
    if decoded > announced + _DECODER_PADDING:
        raise AudioError(
            f"The file's header says the recording is {format_duration(announced / sample_rate)} "
            f"long, but it goes on past {checked}: export it again and upload that."
        )
    return announced, False


def _probed_frames(container: av.container.InputContainer, stream: av.AudioStream) -> int | None:
    """The stream's duration in frames as the container declares it, when it does."""
    if stream.duration is not None and stream.time_base is not None:
        return round(stream.duration * stream.time_base * stream.rate)
    if container.duration is not None:
        return round(container.duration / av.time_base * stream.rate)
    return None


def _ffmpeg_blocks(
    container: av.container.InputContainer, stream: av.AudioStream, limit: int | None
) -> Iterator[np.ndarray]:
    resampler = av.AudioResampler(format="flt", layout=stream.layout, rate=stream.rate)
    channels = stream.channels
    remaining = limit
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            block = out.to_ndarray().reshape(-1, channels)
            if remaining is not None:
                block = block[:remaining]
                remaining -= len(block)
            if len(block):
                yield block
            if remaining == 0:
                return


def read_blocks(
    path: str | os.PathLike[str], info: AudioInfo, blocksize: int = BLOCK_FRAMES
) -> Iterator[np.ndarray]:
    """Yield the decoded audio as float32 arrays of shape (frames, channels), in order.

    At most ``info.frames`` frames in all; ``blocksize`` is a hint for the soundfile reader.
    """
    if info.reader == "soundfile":
        yield from sf.blocks(
            str(path), blocksize=blocksize, dtype="float32", always_2d=True, frames=info.frames
        )
        return
    with av.open(str(path)) as container:
        yield from _ffmpeg_blocks(container, container.streams.audio[0], limit=info.frames)
