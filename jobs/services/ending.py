"""How a job ends: failing it with a reason, and telling whoever listens (the team's webhook)."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from jobs.models import SeparationJob

Status = SeparationJob.Status


def job_fail(job: SeparationJob, reason: str, status: str = Status.FAILED) -> bool:
    """End a job that is not over yet with ``reason``; tells the team's webhook. Returns
    False when the job had already ended."""
    ended = job.mark_failed(reason, status=status)
    if ended:
        job_ended(job)
    return ended


def job_ended(job: SeparationJob) -> None:
    """Once the transaction commits, call each ``STEMWEB_JOB_ENDED_HOOKS`` function with the
    job's id, unless its stems wait for staff review (approval calls them then).

    The hooks are dotted paths resolved on use, so apps above ``jobs`` (``webhooks``) listen
    without ``jobs`` importing them.
    """
    job.refresh_from_db(fields=["status", "review_state"])
    if not job.is_held:
        transaction.on_commit(partial(_call_hooks, str(job.pk)), robust=True)


def job_released(job: SeparationJob) -> None:
    """A held job was approved: its listeners hear of it now, after the commit."""
    transaction.on_commit(partial(_call_hooks, str(job.pk)), robust=True)


def _call_hooks(job_id: str) -> None:
    for path in settings.STEMWEB_JOB_ENDED_HOOKS:
        import_string(path)(job_id=job_id)
