"""RQ entry points for notifications. Thin: take an id, call a service (named in
``jobs.queues``)."""

from __future__ import annotations

from notifications import services


def send_ended_email(job_id: str, attempt: int) -> None:
    """Email the person who started a job that it ended (see ``services.ended_email_send``)."""
    services.ended_email_send(job_id=job_id, attempt=attempt)
