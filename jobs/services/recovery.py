"""Recovery after a crash or a restart of Redis or the workers: no job is lost or left stuck."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from jobs.models import SeparationJob
from jobs.services.ending import job_fail
from jobs.services.run import job_enqueue

MAX_ATTEMPTS = 3
Status = SeparationJob.Status


@dataclass(frozen=True)
class Recovery:
    requeued: int
    failed: int
    enqueued: int


def jobs_recover(*, stale_after: timedelta = timedelta(minutes=5)) -> Recovery:
    """Make sure no job is lost after a crash or restart of Redis or the workers.

    - A running job whose worker stopped reporting for ``stale_after`` goes back to the queue
      for another attempt, or fails after ``MAX_ATTEMPTS`` attempts.
    - A queued job that RQ does not hold (Redis restarted empty, or enqueueing failed) is
      enqueued again.
    """
    requeued = failed = enqueued = 0
    cutoff = timezone.now() - stale_after
    stale = SeparationJob.objects.filter(status=Status.RUNNING, heartbeat__lt=cutoff)
    for job in stale:
        if job.attempts + 1 >= MAX_ATTEMPTS:
            failed += job_fail(
                job, f"The worker stopped responding {MAX_ATTEMPTS} times while running this job."
            )
            continue
        requeued += SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            status=Status.QUEUED, attempts=F("attempts") + 1, progress=0.0
        )
    for job in SeparationJob.objects.filter(status=Status.QUEUED):
        enqueued += job_enqueue(job=job)
    return Recovery(requeued=requeued, failed=failed, enqueued=enqueued)
