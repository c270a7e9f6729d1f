"""RQ entry points. Thin: take an id, call a service."""

from __future__ import annotations

from jobs import services


def run_job(job_id: str) -> None:
    """Run one attempt of a separation job (see ``services.job_run``)."""
    services.job_run(job_id=job_id)
