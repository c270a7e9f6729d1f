"""Stem sets: what a person asks for, and the names of the stems each one yields.

Stored on jobs (``SeparationJob.stem_set``) and offered by providers; the one place stem names
are written down.
"""

from __future__ import annotations

from django.db import models


class StemSet(models.TextChoices):
    """What a user asks for. Values are stored on jobs; labels are shown on forms."""

    FOREGROUND_BACKGROUND = "foreground_background", "Foreground / background"
    VOCALS_INSTRUMENTAL = "vocals_instrumental", "Vocals / instrumental"
    MULTI = "multi", "Many instruments (6 stems)"
    MULTI_12 = "multi_12", "Many instruments (12 stems)"
    DRY_REVERB = "dry_reverb", "Dry / reverb"

    @property
    def stem_names(self) -> tuple[str, ...]:
        return STEM_NAMES[self]


STEM_NAMES: dict[str, tuple[str, ...]] = {
    StemSet.FOREGROUND_BACKGROUND: ("foreground", "background"),
    StemSet.VOCALS_INSTRUMENTAL: ("vocals", "instrumental"),
    StemSet.MULTI: ("vocals", "drums", "bass", "guitar", "piano", "other"),
    # Suno-style split_stem, in the order of ../shared/specs/PROVIDERS.md
    StemSet.MULTI_12: (
        "vocals",
        "backing_vocals",
        "drums",
        "bass",
        "guitar",
        "keyboard",
        "percussion",
        "strings",
        "synth",
        "fx",
        "brass",
        "woodwinds",
    ),
    StemSet.DRY_REVERB: ("dry", "reverb"),
}
