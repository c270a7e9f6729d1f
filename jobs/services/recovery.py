"""Recovery: no job, rendition, mix or webhook delivery is lost or stuck after a crash.

``jobs_reconcile`` runs every minute from RQ's cron scheduler (``stemweb/cron.py``, started by
``manage.py rqcron stemweb.cron``) and once when a worker starts (``manage.py recover_jobs``).
It compares the database, which is the source of truth, with what RQ holds
(:func:`jobs.queues.held_work`), and hands lost work back. Every change is a conditional update
of the row it read, so passes running at once on several machines are harmless; a Redis lock
keeps them from running at once anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs import queues
from jobs.models import SeparationJob
from jobs.services.ending import job_fail
from jobs.services.lease import lease_seconds
from jobs.services.run import job_enqueue
from providers.registry import get_provider
from stemweb.lib.uploadtmp import sweep

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # a job whose worker died this many times fails
UPLOAD_TMP_MAX_AGE_S = 3600  # an upload temp file untouched this long belongs to a dead worker
Status = SeparationJob.Status

Held = set[tuple[str, str]]
Hook = Callable[..., dict[str, int]]


@dataclass(frozen=True)
class Recovery:
    """What one pass did: jobs whose worker died put back in the queue (``requeued``) or
    failed, remote jobs whose lost check was scheduled again (``rescheduled``), queued jobs
    handed to RQ again (``enqueued``), and the other apps' counts (``others``)."""

    requeued: int = 0
    rescheduled: int = 0
    failed: int = 0
    enqueued: int = 0
    others: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [
            f"{self.requeued} requeued",
            f"{self.rescheduled} rescheduled",
            f"{self.failed} failed",
            f"{self.enqueued} enqueued",
        ]
        parts += [f"{count} {what}" for what, count in self.others.items()]
        return ", ".join(parts)


def jobs_reconcile() -> Recovery | None:
    """One pass of recovery over every kind of lost work; None when another pass is running.

    - A running job whose lease lapsed (its worker died): a remote job with a task id is
      checked again at once (never submitted again); any other job goes back to the queue.
      After ``MAX_ATTEMPTS`` deaths it fails with a reason.
    - A running remote job past its next due check by ``STEMWEB_RECOVERY_GRACE_S`` with no
      check in RQ (Redis restarted empty): checked at once.
    - A queued job RQ does not hold: enqueued.
    - Upload temp files a killed web worker left over an hour ago: deleted.
    - Each ``STEMWEB_RECONCILE_HOOKS`` function, called with ``held=``: renditions, custom mixes
      and webhook deliveries with no work in RQ.
    """
    with queues.exclusive("reconcile", ttl_s=300) as alone:
        if not alone:
            return None
        held = queues.held_work()
        now = timezone.now()
        requeued, failed = _take_back_lapsed(now)
        rescheduled = _reschedule_lost_checks(held, now)
        enqueued = sum(
            job_enqueue(job=job)
            for job in SeparationJob.objects.filter(status=Status.QUEUED)
            if (queues.RUN_JOB, str(job.pk)) not in held
        )
        stale_uploads = sweep(settings.FILE_UPLOAD_TEMP_DIR, UPLOAD_TMP_MAX_AGE_S)
        others = {"upload temp files removed": len(stale_uploads)}
        for path in settings.STEMWEB_RECONCILE_HOOKS:
            hook: Hook = import_string(path)
            others.update(hook(held=held))
    recovery = Recovery(requeued, rescheduled, failed, enqueued, others)
    log.info("recovery: %s", recovery)
    return recovery


def _take_back_lapsed(now: datetime) -> tuple[int, int]:
    """Running jobs whose worker stopped renewing its lease; (requeued or rechecked, failed)."""
    silent_since = now - timedelta(seconds=lease_seconds())
    lapsed = SeparationJob.objects.filter(status=Status.RUNNING).filter(
        Q(lease_until__lt=now)
        | Q(lease_until__isnull=True, next_check_at__isnull=True, heartbeat__lt=silent_since)
    )
    requeued = failed = 0
    for job in lapsed:
        taken = SeparationJob.objects.filter(
            pk=job.pk,
            status=Status.RUNNING,
            lease_token=job.lease_token,
            lease_until=job.lease_until,
        ).update(lease_token="", lease_until=None, attempts=F("attempts") + 1)
        if not taken:
            continue  # renewed, ended or taken back meanwhile
        job.refresh_from_db()
        if job.attempts >= MAX_ATTEMPTS:
            failed += job_fail(
                job, f"The worker stopped responding {MAX_ATTEMPTS} times while running this job."
            )
            continue
        log.warning("job %s: its worker died; attempt %d", job.pk, job.attempts + 1)
        if job.provider_task_id and get_provider(job.provider).resumable:
            requeued += _check_now(job)
            continue
        requeued += SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            status=Status.QUEUED, progress=0.0, provider_task_id="", provider_state={}
        )
        job.refresh_from_db()
        job_enqueue(job=job)
    return requeued, failed


def grace() -> timedelta:
    """How late scheduled work may be with nothing in RQ before it counts as lost."""
    return timedelta(seconds=settings.STEMWEB_RECOVERY_GRACE_S)


def _reschedule_lost_checks(held: Held, now: datetime) -> int:
    overdue = SeparationJob.objects.filter(
        status=Status.RUNNING, lease_until__isnull=True, next_check_at__lt=now - grace()
    )
    return sum(_check_now(job) for job in overdue if (queues.CHECK_JOB, str(job.pk)) not in held)


def _check_now(job: SeparationJob) -> int:
    """Schedule a check of a running job at once, unless it changed since it was read."""
    now = timezone.now()
    moved = SeparationJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, next_check_at=job.next_check_at
    ).update(next_check_at=now)
    if moved:
        queues.enqueue(queues.CHECK_JOB, str(job.pk), on_commit=False)
    return moved
