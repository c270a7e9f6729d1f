"""Audited actions on a job: approve, flag, cancel, retry, re-run, delete stems. Staff take them
in the admin; members cancel their team's jobs through the API."""

from __future__ import annotations

from functools import partial

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from jobs import queues
from jobs.models import AuditEntry, SeparationJob, job_storage_prefix
from jobs.services.ending import job_ended, job_released
from jobs.services.intake import JobRequestError, job_create
from jobs.services.run import job_enqueue
from providers.registry import get_provider
from stemweb.lib.storage import delete_tree

Status = SeparationJob.Status


def _audit(
    job: SeparationJob, actor: User | None, action: str, reason: str = "", **details: object
) -> None:
    AuditEntry.objects.create(job=job, actor=actor, action=action, reason=reason, details=details)


def job_approve(*, job: SeparationJob, actor: User, note: str = "") -> bool:
    """Approve a succeeded job's stems; a held job's webhook goes out now, once per success:
    approving again after a flag does not send it again."""
    was_held = job.is_held and not (
        job.finished is not None
        and job.audit.filter(action="approve", created__gte=job.finished).exists()
    )
    updated = SeparationJob.objects.filter(pk=job.pk, status=Status.SUCCEEDED).update(
        review_state=SeparationJob.Review.APPROVED,
        review_note=note,
        reviewed_by=actor,
        reviewed_at=timezone.now(),
    )
    if updated:
        job.refresh_from_db()
        _audit(job, actor, "approve", note)
        if was_held:
            job_released(job)
    return bool(updated)


def job_flag(*, job: SeparationJob, actor: User, note: str) -> bool:
    """Flag a job's stems with a note the team sees on the job page."""
    if not note.strip():
        raise JobRequestError("Say why the job is flagged; the team sees the note.")
    updated = SeparationJob.objects.filter(pk=job.pk).update(
        review_state=SeparationJob.Review.FLAGGED,
        review_note=note.strip(),
        reviewed_by=actor,
        reviewed_at=timezone.now(),
    )
    if updated:
        job.refresh_from_db()
        _audit(job, actor, "flag", note.strip())
    return bool(updated)


def job_cancel(
    *, job: SeparationJob, actor: User | None, reason: str = "", by: str = "staff"
) -> bool:
    """End a queued or running job ``canceled``: its queued and scheduled work leaves RQ, so its
    provider is not called again; a local engine run stops at its next progress report.

    ``by`` names who canceled in the job's error, which the team reads ("staff" from the admin,
    the member's email from the API). Audited like the staff actions. False when the job had
    already ended."""
    updated = SeparationJob.objects.filter(
        pk=job.pk, status__in=[Status.QUEUED, Status.RUNNING]
    ).update(
        status=Status.CANCELED,
        finished=timezone.now(),
        error=f"Canceled by {by}{': ' + reason if reason else '.'}",
    )
    if not updated:
        return False
    job.refresh_from_db()
    removed = queues.unschedule(str(job.pk), {queues.RUN_JOB, queues.CHECK_JOB})
    _audit(job, actor, "cancel", reason, removed_from_queue=removed)
    job_ended(job)
    return True


def job_retry(*, job: SeparationJob, actor: User | None, reason: str = "") -> bool:
    """Queue a failed or timed-out job again. With a remote provider's task id it resumes
    polling that task instead of submitting (and paying) again; a provider whose tasks cannot
    be resumed (the local engine) starts over."""
    resumes = bool(job.provider_task_id) and get_provider(job.provider).resumable
    updated = SeparationJob.objects.filter(
        pk=job.pk, status__in=[Status.FAILED, Status.TIMED_OUT]
    ).update(
        status=Status.QUEUED,
        error="",
        progress=0.0,
        attempts=F("attempts") + 1,
        transient_errors=0,
        lease_token="",
        lease_until=None,
        next_check_at=None,
        started=None,
        finished=None,
        deadline=None,
        **({} if resumes else {"provider_task_id": "", "provider_state": {}}),
    )
    if not updated:
        return False
    job.refresh_from_db()
    _audit(job, actor, "retry", reason, resumes_task=resumes)
    transaction.on_commit(partial(job_enqueue, job=job), robust=True)
    return True


def job_rerun(
    *, job: SeparationJob, actor: User, provider_key: str, stem_set: str = "", reason: str = ""
) -> SeparationJob:
    """A new job on the same project with another provider (and stem set, if given)."""
    new = job_create(
        project=job.project,
        user=actor,
        provider_key=provider_key,
        stem_set=stem_set or job.stem_set,
    )
    _audit(job, actor, "rerun", reason, new_job=str(new.pk), provider=provider_key)
    return new


def job_delete_stems(*, job: SeparationJob, actor: User, reason: str = "") -> int:
    """Delete a job's stems with their renditions and the job's custom mixes; every file in
    the job's storage folder leaves storage after commit."""
    with transaction.atomic():
        count = job.stems.count()
        job.stems.all().delete()  # renditions go with their stems
        job.mixes.all().delete()
        _audit(job, actor, "delete_stems", reason, stems=count)
        prefix = job_storage_prefix(job)
        transaction.on_commit(lambda: delete_tree(default_storage, prefix))
    return count
