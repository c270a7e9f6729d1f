"""RQ entry points for downloads. Thin: take an id, call a service (named in ``jobs.queues``)."""

from __future__ import annotations

from downloads import rendering


def render_stem(rendition_id: int, attempt: int | None = None) -> None:
    """Convert a stem to a download format (hand-over number ``attempt``)."""
    rendering.render_rendition(rendition_id=rendition_id, attempt=attempt)


def render_mix(mix_id: int, attempt: int | None = None) -> None:
    """Render a custom mix (hand-over number ``attempt``)."""
    rendering.render_custom_mix(mix_id=mix_id, attempt=attempt)
