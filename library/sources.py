"""What a project's source may be, checked in two steps so the web never decodes much of it.

- On upload (``check_upload``, the web): the header against the site's limits before any
  decoding, then at most ``STEMWEB_UPLOAD_CHECK_S`` seconds decoded. A recording that short is
  checked whole; a longer one is accepted on its header's length.
- Before a job sends a longer source anywhere (``check_whole``, the worker): all of it decoded,
  under the same limits, so a corrupt or cut end, silence, or a header that lied is caught there.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from audio.probe import AudioInfo, Limits, probe, require_duration


def source_limits() -> Limits:
    """The site's limits on a recording (``STEMWEB_MAX_DURATION_S``, ``_CHANNELS``,
    ``_SAMPLE_RATE``)."""
    return Limits(
        longest_s=settings.STEMWEB_MAX_DURATION_S,
        channels=settings.STEMWEB_MAX_CHANNELS,
        sample_rate=settings.STEMWEB_MAX_SAMPLE_RATE,
    )


def check_upload(path: Path) -> AudioInfo:
    """The web's check of an uploaded file: bounded work, whatever the file announces.

    Raises:
        AudioError: not audio we take, over the limits, too short, or (when decoded whole)
            corrupt, cut or silent; the message is for the person uploading.
    """
    info = probe(path, limits=source_limits(), budget_s=settings.STEMWEB_UPLOAD_CHECK_S)
    _require_duration(info)
    return info


def needs_whole_check(duration_s: float) -> bool:
    """Whether ``check_upload`` decoded only the start of a source this long."""
    return duration_s > settings.STEMWEB_UPLOAD_CHECK_S


def check_whole(path: Path) -> AudioInfo:
    """Decode all of a source (the worker does this for one ``check_upload`` did not finish);
    decoding stops at ``STEMWEB_MAX_DURATION_S`` whatever the header said.

    Raises:
        AudioError: as ``check_upload``, now for the whole file.
    """
    info = probe(path, limits=source_limits())
    _require_duration(info)
    return info


def _require_duration(info: AudioInfo) -> None:
    require_duration(
        info,
        shortest_s=settings.STEMWEB_MIN_DURATION_S,
        longest_s=settings.STEMWEB_MAX_DURATION_S,
    )
