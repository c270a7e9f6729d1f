"""RQ entry points for downloads. Thin: take an id, call a service (named in ``jobs.queues``)."""

from __future__ import annotations

from downloads import rendering


def render_stem(rendition_id: int) -> None:
    """Convert a stem to a download format."""
    rendering.render_rendition(rendition_id=rendition_id)


def render_mix(mix_id: int) -> None:
    """Render a custom mix."""
    rendering.render_custom_mix(mix_id=mix_id)
