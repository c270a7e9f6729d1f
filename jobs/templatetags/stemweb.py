from __future__ import annotations

import json
from datetime import timedelta

from django import template

from jobs.models import SeparationJob
from providers import registry

register = template.Library()


@register.filter
def clock(value: float | timedelta | None) -> str:
    """Seconds (or a timedelta) as m:ss, or h:mm:ss past an hour; "" for None."""
    if value is None:
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def megabytes(value: int | None) -> str:
    return "" if value is None else f"{value / 1048576:.1f} MB"


@register.filter
def percent(value: float) -> str:
    return f"{value * 100:.0f} %"


@register.filter
def status_label(value: str) -> str:
    """A job status value ("timed_out") as its label ("Timed out")."""
    return SeparationJob.Status(value).label


@register.filter
def stem_label(name: str) -> str:
    """A stem name for people: "backing_vocals" -> "Backing vocals"."""
    return name.replace("_", " ").capitalize()


@register.filter
def provider_label(key: str | None) -> str:
    """A provider key ("camb") as its name ("CAMB.AI"); "" for None."""
    return registry.provider_label(key) if key else ""


@register.filter
def json_script_safe(value: object) -> str:
    """``value`` as JSON for an HTML attribute (autoescaping quotes it)."""
    return json.dumps(value, separators=(",", ":"))
