"""RQ entry points for the library. Thin: take an id, call a service (named in ``jobs.queues``,
which enqueues them)."""

from __future__ import annotations

from library import services


def source_peaks(project_id: int) -> None:
    """Store the waveform peaks of a project's source (``services.project_store_source_peaks``)."""
    services.project_store_source_peaks(project_id=project_id)
