"""The waveform of a project's source, computed by a worker once the source is stored
(``library.services.project_store_source_peaks``), the way stems' peaks are."""

from __future__ import annotations

from jobs import queues
from library.models import Project


def source_peaks_request(project: Project) -> None:
    """Hand the peaks of ``project``'s source to a worker on the ``local`` queue once the
    transaction commits, unless they are stored or RQ holds the task already. The task's id
    is derived from the project, so asking again (each view of a page lacking them) is
    harmless."""
    if not project.source or project.source_peaks:
        return
    queues.enqueue_unless_held(
        queues.SOURCE_PEAKS, project.pk, queue=queues.LOCAL, job_id=f"source-peaks-{project.pk}"
    )
