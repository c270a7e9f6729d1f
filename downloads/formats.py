"""The one table of download formats: their names, labels and how soundfile encodes them.

Every format is written at the stem's own sample rate and channel count. MP3 is LAME through
libsndfile at 320 kbit/s constant bit rate.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class Format(models.TextChoices):
    WAV = "wav", "WAV (PCM 24-bit)"
    FLAC = "flac", "FLAC"
    MP3 = "mp3", "MP3 (320 kbit/s)"


# soundfile.SoundFile keyword arguments for each format.
ENCODINGS: dict[str, dict[str, Any]] = {
    Format.WAV: {"format": "WAV", "subtype": "PCM_24"},
    Format.FLAC: {"format": "FLAC", "subtype": "PCM_24"},
    Format.MP3: {
        "format": "MP3",
        "subtype": "MPEG_LAYER_III",
        "compression_level": 0.0,
        "bitrate_mode": "CONSTANT",
    },
}
