"""What probing tells about a recording, and the words stemweb refuses one with: the limits
checked against it, the facts found (``AudioInfo``), ``AudioError`` and its messages. Probing
and decoding themselves are ``audio.probe``'s."""

from __future__ import annotations

from dataclasses import dataclass

ACCEPTED_LABEL = "WAV, FLAC, MP3, AAC/M4A or OGG"


class AudioError(ValueError):
    """A file that stemweb cannot accept as audio. ``str(error)`` is shown to the user."""


@dataclass(frozen=True)
class Limits:
    """What stemweb accepts, checked against the header before decoding and again while
    decoding: the longest duration in seconds, the most channels, the highest rate in Hz."""

    longest_s: float
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class AudioInfo:
    """What probing a file found. ``frames`` counts sample frames per channel: decoded ones when
    ``complete``, else the header's count, of which only the first ``checked_frames`` were
    decoded."""

    container: str  # "WAV", "FLAC", "OGG", "MP3", "M4A", "AAC"
    codec: str  # e.g. "PCM_24", "VORBIS", "MPEG_LAYER_III", "aac"
    extension: str  # file extension to store it under, without the dot
    sample_rate: int  # Hz
    channels: int
    frames: int
    reader: str  # "soundfile" or "pyav"
    peak: float | None = None  # largest absolute sample value decoded; None when not measured
    complete: bool = True  # False when probe decoded only a bounded part (see budget_s)
    checked_frames: int | None = None  # frames probe decoded; None when not probed

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def is_silent(self) -> bool:
        """Only a complete decode can tell: a long file's first seconds may be quiet."""
        return self.complete and self.peak == 0.0


def format_duration(seconds: float) -> str:
    """A duration for people: "23 ms", "4.5 s", "3 min 07 s", "2 h 05 min"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours:,} h {minutes:02d} min"


def too_long(seconds: float | None, longest_s: float) -> AudioError:
    """The refusal of a recording of ``seconds``, or (None) of one that went on past the limit."""
    if seconds is None:
        return AudioError(
            f"The recording is too long: the maximum is {format_duration(longest_s)}, "
            "and it goes on past that."
        )
    return AudioError(
        f"The recording is too long ({format_duration(seconds)}); "
        f"the maximum is {format_duration(longest_s)}."
    )


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
        raise too_long(info.duration_s, longest_s)
    if info.is_silent:
        raise AudioError("The recording is completely silent: nothing to separate.")
