"""RQ entry points for jobs. Thin: take an id, call a service. Nothing imports this module:
``jobs.queues`` names its tasks by dotted path and RQ imports them in the worker."""

from __future__ import annotations

from jobs import services


def run_job(job_id: str) -> None:
    """Run one attempt of a separation job (see ``services.job_run``)."""
    services.job_run(job_id=job_id)


def check_job(job_id: str) -> None:
    """Poll a running job's provider, or collect its stems (see ``services.job_check``)."""
    services.job_check(job_id=job_id)


def reconcile() -> None:
    """One recovery pass (see ``services.jobs_reconcile``); the cron scheduler runs it every
    minute (``stemweb/cron.py``)."""
    services.jobs_reconcile()
