"""Template tags for pages of other apps that offer downloads (the job page's mixer)."""

from __future__ import annotations

from django import template

from downloads.formats import Format

register = template.Library()


@register.simple_tag
def download_formats() -> list[tuple[str, str]]:
    """(value, label) of every download format, for a format picker."""
    return list(Format.choices)
