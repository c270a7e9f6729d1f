"""Running a job: enqueue it, claim it, and move it one step at a time (submit, poll, collect).

No worker waits on a provider. A job's next status check is a time on its row
(``next_check_at``): the checker process (``jobs.checker``, ``manage.py checker``) polls the
providers of due jobs, many at once, and hands a finished job to a worker to collect; with
``STEMWEB_CHECKER`` off, each check is a task scheduled with RQ instead. A transient provider
error is retried later with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import logging
import random
import tempfile
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audio.probe import AudioError
from jobs import queues, signing
from jobs.models import SeparationJob
from jobs.selectors import provider_api_key
from jobs.services.collect import collect
from jobs.services.ending import job_fail
from jobs.services.lease import job_claim, lease_kept
from library.sources import check_whole, needs_whole_check
from providers.base import JobCanceled, PollState, Provider, ProviderError, RunContext
from providers.registry import get_provider

log = logging.getLogger(__name__)
Status = SeparationJob.Status


def _rq_job_id(job: SeparationJob) -> str:
    return f"separate-{job.pk}-{job.attempts}"


def job_enqueue(*, job: SeparationJob) -> bool:
    """Put a queued job on its provider's RQ queue, unless RQ already holds it.

    Returns True when it was enqueued now; callers inside a transaction call it on commit. The
    RQ job id is derived from the job and its attempt, so enqueueing twice never runs an attempt
    twice.
    """
    queue = queues.LOCAL if get_provider(job.provider).cpu_bound else queues.DEFAULT
    rq_id = _rq_job_id(job)
    if queues.is_waiting(rq_id, queue):
        return False
    queues.enqueue(queues.RUN_JOB, str(job.pk), queue=queue, job_id=rq_id, on_commit=False)
    return True


def job_run(*, job_id: str) -> None:
    """First delivery of a job: claim it and take its first step.

    A duplicate delivery finds the job no longer queued and does nothing.
    """
    job = SeparationJob.objects.filter(pk=job_id).select_related("project__team").first()
    if job is None:
        return
    provider = get_provider(job.provider)
    now = timezone.now()
    deadline = now + timedelta(seconds=provider.deadline_s) if provider.deadline_s else None
    token = job_claim(
        job_id,
        where_status=Status.QUEUED,
        status=Status.RUNNING,
        started=now,
        progress=0.0,
        error="",
        deadline=deadline,
        next_check_at=None,
    )
    if token is None:
        log.info("job %s is not queued any more; nothing to do", job_id)
        return
    job.refresh_from_db()
    with lease_kept(job_id, token):
        _step(job, provider)


def job_check(*, job_id: str, collect_here: bool = True) -> bool:
    """A due (or callback-triggered) check of a running job: poll, collect, or wait.

    The check claims the job's lease first: while another process polls or collects it, this
    check does nothing (that process schedules the next one) and returns False. With
    ``collect_here`` False (the checker), a job its provider reports finished is handed to a
    worker to collect instead of being collected here.
    """
    token = job_claim(job_id)
    if token is None:
        return False
    with lease_kept(job_id, token):
        job = SeparationJob.objects.select_related("project__team").get(pk=job_id)
        _step(job, get_provider(job.provider), collect_here=collect_here)
    return True


def _step(job: SeparationJob, provider: Provider, *, collect_here: bool = True) -> None:
    """Move a running job one step: submit if not yet submitted, else poll; collect when done
    (or, without ``collect_here``, hand it to a worker to collect).

    Every outcome leaves the job terminal or with its next check scheduled; an error never
    leaves it running without one, except losing the database, after which recovery takes the
    job back.
    """

    def progress(fraction: float) -> None:
        if not job.report_progress(fraction):
            raise JobCanceled(str(job.pk))

    try:
        if job.deadline and timezone.now() > job.deadline:
            assert job.started is not None  # job_run sets both; job_retry clears both
            minutes = (job.deadline - job.started).total_seconds() / 60
            job_fail(
                job,
                f"{provider.label} did not finish within {minutes:.0f} minutes.",
                status=Status.TIMED_OUT,
            )
            return
        if not job.provider_task_id and not collect_here:
            _hand_over(job)  # a submission retried after a transient error: it uploads
            return
        with tempfile.TemporaryDirectory(prefix="stemweb-job-") as tmp:
            ctx = _context(job, provider, Path(tmp), progress)
            if not job.provider_task_id:
                _check_source(job, ctx)
                submission = provider.submit(ctx)
                # Stored before anything else can fail: a retry polls instead of paying again.
                job.provider_task_id = submission.task_id
                SeparationJob.objects.filter(pk=job.pk).update(
                    provider_task_id=submission.task_id, transient_errors=0
                )
                if submission.done:
                    collect(job, provider, ctx)
                else:
                    _schedule_check(job, provider.poll_interval_s)
                return
            poll = provider.poll(ctx)
            SeparationJob.objects.filter(pk=job.pk).update(
                checks=F("checks") + 1, transient_errors=0
            )
            if poll.state is PollState.PENDING:
                _schedule_check(job, _poll_delay(provider, job.checks + 1))
            elif poll.state is PollState.FAILED:
                job_fail(job, poll.reason or f"{provider.label} reported a failure.")
            elif poll.state is PollState.TIMED_OUT:
                job_fail(
                    job, poll.reason or f"{provider.label} timed out.", status=Status.TIMED_OUT
                )
            elif collect_here:
                collect(job, provider, ctx)
            else:
                _hand_over(job)
    except JobCanceled:
        log.info("job %s was canceled while running", job.pk)
    except ProviderError as exc:
        _provider_error(job, exc)
    except (OperationalError, InterfaceError):
        # The database went away mid-step (restarted, connections terminated): nothing is wrong
        # with the job, and failing it would throw away work a provider was paid for. It stays
        # running; recovery takes it back once its lease is released (on a new connection) or
        # lapses: a remote job is checked again, never submitted again.
        log.warning("job %s: lost the database mid-step; left to recovery", job.pk)
        connection.close()
        raise
    except Exception as exc:
        log.exception("job %s crashed", job.pk)
        job_fail(job, f"Separation crashed: {type(exc).__name__}: {exc}")


def retry_delay_s(retry: int) -> float:
    """The backoff before transient retry number ``retry`` (1, 2, ...), without jitter:
    ``STEMWEB_RETRY_BASE_S`` doubling each time, at most ``STEMWEB_RETRY_MAX_DELAY_S``."""
    return min(settings.STEMWEB_RETRY_BASE_S * 2 ** (retry - 1), settings.STEMWEB_RETRY_MAX_DELAY_S)


def _check_source(job: SeparationJob, ctx: RunContext) -> None:
    """Decode all of an uploaded source before it is submitted, when the upload decoded only
    its start (``library.sources``); a length the whole decode corrects is stored.

    Raises:
        ProviderError: (permanent) the source is corrupt, cut, silent or over the limits.
    """
    project = job.project
    if not project.source or not needs_whole_check(project.duration_s or 0.0):
        return
    try:
        info = check_whole(ctx.source_path())
    except AudioError as exc:
        raise ProviderError(f"The recording cannot be separated: {exc}", permanent=True) from None
    if info.frames != project.frames:  # e.g. an MP3 whose header estimated its length
        project.duration_s = info.duration_s
        project.save(update_fields=["duration_s"])


def _provider_error(job: SeparationJob, exc: ProviderError) -> None:
    """Fail the job on a permanent error; retry a transient one later with exponential
    backoff, for as long as the retries so far have waited less than ``STEMWEB_RETRY_WINDOW_S``
    (and, when set, at most ``STEMWEB_RETRY_LIMIT`` times)."""
    if exc.permanent:
        job_fail(job, str(exc))
        return
    failures = job.transient_errors + 1
    retries = failures - 1
    waited = sum(retry_delay_s(k) for k in range(1, failures))
    limit = settings.STEMWEB_RETRY_LIMIT
    if limit and retries >= limit:
        job_fail(job, f"{exc} Gave up after {retries} retries.")
        return
    if waited >= settings.STEMWEB_RETRY_WINDOW_S:
        job_fail(job, f"{exc} Gave up after {retries} retries over {waited / 60:.0f} minutes.")
        return
    SeparationJob.objects.filter(pk=job.pk).update(transient_errors=failures)
    delay = max(exc.retry_after or 0.0, retry_delay_s(failures) * random.uniform(0.8, 1.2))  # noqa: S311
    log.info("job %s: %s; retry %d in %.1f s (%.0f s so far)", job.pk, exc, failures, delay, waited)
    _schedule_check(job, delay)


def _poll_delay(provider: Provider, checks: int) -> float:
    """The provider's poll interval, doubled after every 10 checks, at most 8 times over."""
    return provider.poll_interval_s * min(2 ** (checks // 10), 8)


def _schedule_check(job: SeparationJob, delay_s: float) -> None:
    """Check the job again in ``delay_s`` seconds. The row records when: the checker finds due
    jobs by it, and recovery tells a lost check from one that is not due yet. Without the
    checker (``STEMWEB_CHECKER`` off) the check is also scheduled with RQ."""
    due = timezone.now() + timedelta(seconds=delay_s)
    SeparationJob.objects.filter(pk=job.pk).update(next_check_at=due)
    if not settings.STEMWEB_CHECKER:
        queues.enqueue(queues.CHECK_JOB, str(job.pk), delay_s=delay_s, on_commit=False)


def _hand_over(job: SeparationJob) -> None:
    """Have a worker collect a job its provider reports finished (the worker polls once more,
    then collects), or submit one whose submission is to be retried. Until then the checker
    leaves it alone: its next check is pushed past recovery's grace, after which recovery asks
    a worker again if the first was lost. When Redis does not answer, the checker tries again
    after a poll interval."""
    if queues.enqueue_if_reachable(queues.CHECK_JOB, str(job.pk)):
        wait_s = settings.STEMWEB_RECOVERY_GRACE_S
    else:  # Redis is down: the checker tries again in a poll interval
        wait_s = get_provider(job.provider).poll_interval_s
    due = timezone.now() + timedelta(seconds=wait_s)
    SeparationJob.objects.filter(pk=job.pk).update(next_check_at=due)


def job_check_now(*, job: SeparationJob) -> None:
    """Check a running job as soon as a worker is free (e.g. its callback just came in)."""
    queues.enqueue(queues.CHECK_JOB, str(job.pk), on_commit=False)


def _context(
    job: SeparationJob, provider: Provider, workdir: Path, progress: Callable[[float], None]
) -> RunContext:
    """What ``provider`` may read and the callables through which it writes (see RunContext)."""
    return RunContext(
        job=job,
        workdir=workdir,
        progress=progress,
        save_state=job.save_provider_state,
        record_event=job.record_event,
        record_provenance=job.record_provenance,
        source_url=partial(signing.source_url, job.project),
        api_key=provider_api_key(provider, job.project.team),
        callback_url=settings.STEMWEB_PUBLIC_URL
        + reverse("provider_callback", args=[provider.key, job.pk, job.callback_token]),
    )
