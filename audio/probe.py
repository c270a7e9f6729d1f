"""Audio probing and streaming decode for uploads and stems.

``probe`` decodes a whole file once, in blocks, before stemweb accepts it: the extension, the
client's MIME type and the header's claimed length are never trusted. WAV, FLAC, OGG and MP3
are read with libsndfile (soundfile); AAC/M4A with FFmpeg (PyAV), trimmed to the container's
probed duration so the decoder's end padding does not lengthen the audio.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf

BLOCK_FRAMES = 65536

# libsndfile major format -> (container label, file extension)
_SNDFILE_FORMATS = {
    "WAV": ("WAV", "wav"),
    "WAVEX": ("WAV", "wav"),
    "RF64": ("WAV", "wav"),
    "FLAC": ("FLAC", "flac"),
    "OGG": ("OGG", "ogg"),
    "MP3": ("MP3", "mp3"),
}
# FFmpeg demuxer name -> (container label, file extension); only for codecs below.
_FFMPEG_FORMATS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("M4A", "m4a"),
    "aac": ("AAC", "aac"),
}
_FFMPEG_CODECS = {"aac"}
ACCEPTED_LABEL = "WAV, FLAC, MP3, AAC/M4A or OGG"


class AudioError(ValueError):
    """A file that stemweb cannot accept as audio. ``str(error)`` is shown to the user."""


@dataclass(frozen=True)
class AudioInfo:
    """What decoding a file found. ``frames`` counts decoded sample frames per channel."""

    container: str  # "WAV", "FLAC", "OGG", "MP3", "M4A", "AAC"
    codec: str  # e.g. "PCM_24", "VORBIS", "MPEG_LAYER_III", "aac"
    extension: str  # file extension to store it under, without the dot
    sample_rate: int  # Hz
    channels: int
    frames: int
    reader: str  # "soundfile" or "pyav"
    peak: float | None = None  # largest absolute sample value; None when not measured

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def is_silent(self) -> bool:
        return self.peak == 0.0


def format_duration(seconds: float) -> str:
    """A duration for people: "23 ms", "4.5 s", "3 min 07 s"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def require_duration(info: AudioInfo, *, shortest_s: float, longest_s: float) -> None:
    """Refuse a recording outside [shortest_s, longest_s] seconds or made of silence only.

    Raises:
        AudioError: too short, too long, or silent; the message gives both durations.
    """
    if info.duration_s < shortest_s:
        raise AudioError(
            f"The recording is too short ({format_duration(info.duration_s)}); "
            f"the minimum is {format_duration(shortest_s)}."
        )
    if info.duration_s > longest_s:
        raise AudioError(
            f"The recording is too long ({format_duration(info.duration_s)}); "
            f"the maximum is {format_duration(longest_s)}."
        )
    if info.is_silent:
        raise AudioError("The recording is completely silent: nothing to separate.")


def reader_for(container: str) -> str:
    """Which decoder reads a container that ``probe`` accepted: "soundfile" or "pyav"."""
    return "pyav" if container in {label for label, _ in _FFMPEG_FORMATS.values()} else "soundfile"


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Decode ``path`` completely and describe it.

    Raises:
        AudioError: empty file, not audio, no audio stream, an unsupported format, corrupt or
            truncated data, or no samples at all. The message says which, in plain words.
    """
    size = os.path.getsize(path)
    if size == 0:
        raise AudioError("The file is empty (0 bytes).")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return _probe_ffmpeg(path)
    if info.format not in _SNDFILE_FORMATS:
        raise AudioError(
            f"{info.format_info or info.format} files are not supported. Upload {ACCEPTED_LABEL}."
        )
    if info.frames <= 0:
        raise AudioError(
            "The file has an audio header but no audio samples: the data it announces is missing."
        )
    container, extension = _SNDFILE_FORMATS[info.format]
    frames, peak = 0, 0.0
    try:
        with sf.SoundFile(str(path)) as sound:
            for block in sound.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
                frames += len(block)
                if len(block):
                    peak = max(peak, float(np.abs(block).max()))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"The file is corrupt or truncated: decoding failed ({exc}).") from None
    if container in {"WAV", "FLAC"} and frames < info.frames:
        raise AudioError(
            f"The file is truncated: its header promises {info.frames} frames "
            f"but only {frames} could be decoded."
        )
    if frames == 0:
        raise AudioError("The file contains no audio samples.")
    return AudioInfo(
        container=container,
        codec=info.subtype,
        extension=extension,
        sample_rate=info.samplerate,
        channels=info.channels,
        frames=frames,
        reader="soundfile",
        peak=peak,
    )


def _probe_ffmpeg(path: str | os.PathLike[str]) -> AudioInfo:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        raise AudioError(
            f"This is not an audio file stemweb can read. Upload {ACCEPTED_LABEL}."
        ) from None
    with container:
        if not container.streams.audio:
            raise AudioError("The file has no audio stream (it may be an image or a video).")
        stream = container.streams.audio[0]
        fmt = container.format.name
        codec = stream.codec_context.name
        if fmt not in _FFMPEG_FORMATS or codec not in _FFMPEG_CODECS:
            raise AudioError(f"{fmt}/{codec} audio is not supported. Upload {ACCEPTED_LABEL}.")
        frames, peak = 0, 0.0
        try:
            for block in _ffmpeg_blocks(container, stream, limit=None):
                frames += len(block)
                peak = max(peak, float(np.abs(block).max()))
        except av.error.FFmpegError as exc:
            raise AudioError(
                f"The file is corrupt or truncated: decoding failed ({exc})."
            ) from None
        frames = min(frames, _probed_frames(container, stream) or frames)
        if frames == 0:
            raise AudioError("The file contains no audio samples.")
        label, extension = _FFMPEG_FORMATS[fmt]
        return AudioInfo(
            container=label,
            codec=codec,
            extension=extension,
            sample_rate=stream.rate,
            channels=stream.channels,
            frames=frames,
            reader="pyav",
            peak=peak,
        )


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
