"""The only module that talks to RQ: queue names, task paths, enqueueing, queue statistics.

Tasks are named by dotted path, so no module imports ``*.tasks``: RQ imports the task in the
worker. Services call these helpers inside their transaction; enqueueing waits for the commit,
so a worker never sees a row that is not committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import django_rq
from django.db import transaction
from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

log = logging.getLogger(__name__)

DEFAULT = "default"  # orchestration: polls, collection, webhooks
LOCAL = "local"  # CPU-heavy work on the worker: the local engine, renditions, mixes
QUEUES = (DEFAULT, LOCAL)

RUN_JOB = "jobs.tasks.run_job"
CHECK_JOB = "jobs.tasks.check_job"
DELIVER_WEBHOOK = "webhooks.tasks.deliver_webhook"
SEND_ENDED_EMAIL = "notifications.tasks.send_ended_email"
RENDER_STEM = "downloads.tasks.render_stem"
RENDER_MIX = "downloads.tasks.render_mix"
SOURCE_PEAKS = "library.tasks.source_peaks"
RECONCILE = "jobs.tasks.reconcile"  # every minute, from the cron scheduler (stemweb/cron.py)

RESULT_TTL_S = 3600  # how long RQ keeps a finished task's result
FAILURE_TTL_S = 7 * 86400  # how long RQ keeps a failed task for staff to read
_WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def redis() -> Redis:
    """The Redis connection RQ uses (``REDIS_URL``)."""
    return django_rq.get_connection(DEFAULT)


def enqueue(
    task: str,
    *args: Any,
    queue: str = DEFAULT,
    delay_s: float = 0,
    job_id: str | None = None,
    on_commit: bool = True,
) -> None:
    """Run ``task(*args)`` on ``queue``, after ``delay_s`` seconds when given (RQ's scheduler).

    With ``on_commit`` (the default) the task is handed to RQ once the current transaction
    commits (at once outside one); without, right now, for callers already past the commit (a
    worker's own follow-up, recovery).
    """
    send = partial(_enqueue_now, task, args, queue, delay_s, job_id)
    if on_commit:
        transaction.on_commit(send, robust=True)
    else:
        send()


def enqueue_if_reachable(task: str, *args: Any, queue: str = DEFAULT) -> bool:
    """Run ``task(*args)`` on ``queue`` now; False, logged, when Redis does not answer (for
    callers that can try again later, such as the checker)."""
    try:
        _enqueue_now(task, args, queue, 0, None)
    except RedisError:
        log.warning("could not enqueue %s%r: Redis did not answer", task, args, exc_info=True)
        return False
    return True


def _enqueue_now(
    task: str, args: tuple[Any, ...], queue: str, delay_s: float, job_id: str | None
) -> None:
    rq_queue = django_rq.get_queue(queue)
    options = {"failure_ttl": FAILURE_TTL_S, "result_ttl": RESULT_TTL_S, "job_id": job_id}
    if delay_s > 0:
        rq_queue.enqueue_in(timedelta(seconds=delay_s), task, *args, **options)
    else:
        rq_queue.enqueue(task, *args, **options)


def enqueue_unless_held(task: str, *args: Any, queue: str, job_id: str) -> None:
    """``enqueue`` under the fixed id ``job_id`` once the transaction commits, unless RQ then
    holds that task waiting, or failed: RQ keeps a failed task ``FAILURE_TTL_S`` for staff to
    read and requeue, and one that failed on its input would fail again on each request.

    Asking again is cheap, so a view may ask on every request; a duplicate slipping between
    the check and the enqueue runs twice, so ``task`` must be idempotent.
    """
    transaction.on_commit(partial(_enqueue_unless_held, task, args, queue, job_id), robust=True)


def _enqueue_unless_held(task: str, args: tuple[Any, ...], queue: str, job_id: str) -> None:
    try:
        status = RQJob.fetch(job_id, connection=django_rq.get_connection(queue)).get_status()
    except NoSuchJobError:
        status = None
    if status not in _WAITING and status != JobStatus.FAILED:
        _enqueue_now(task, args, queue, 0, job_id)


def is_waiting(job_id: str, queue: str = DEFAULT) -> bool:
    """Whether RQ holds the task ``job_id`` queued, running, scheduled or deferred."""
    try:
        status = RQJob.fetch(job_id, connection=django_rq.get_connection(queue)).get_status()
    except NoSuchJobError:
        return False
    return status in _WAITING


def held_work() -> set[tuple[str, str]]:
    """Every task RQ holds queued, scheduled, deferred or running, as (task path, first
    argument as text) pairs: what recovery compares the database with.

    Running tasks of a worker that died stop counting once RQ's started-job registry lets them
    lapse (about 90 s without the worker's heartbeat); this cleans the registries first, as a
    worker's maintenance would, so they move to the failed registry (AbandonedJobError).
    """
    held: set[tuple[str, str]] = set()
    for name in QUEUES:
        queue = django_rq.get_queue(name)
        started = StartedJobRegistry(queue=queue)
        started.cleanup()
        ids = queue.get_job_ids() + started.get_job_ids()
        ids += ScheduledJobRegistry(queue=queue).get_job_ids()
        ids += DeferredJobRegistry(queue=queue).get_job_ids()
        for rq_job in RQJob.fetch_many(ids, connection=queue.connection):
            if rq_job is not None and rq_job.func_name and rq_job.args:
                held.add((rq_job.func_name, str(rq_job.args[0])))
    return held


@contextmanager
def exclusive(name: str, ttl_s: int) -> Iterator[bool]:
    """A lock across every process on this Redis, not waited for: yields False when another
    process holds it. It lapses after ``ttl_s`` seconds if its holder dies."""
    lock = django_rq.get_connection(DEFAULT).lock(f"stemweb:lock:{name}", timeout=ttl_s)
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            with suppress(LockError):  # it lapsed while we worked
                lock.release()


def unschedule(first_arg: str, tasks: Iterable[str]) -> int:
    """Remove queued and scheduled ``tasks`` whose first argument is ``first_arg``; the count."""
    tasks = set(tasks)
    removed = 0
    for name in QUEUES:
        queue = django_rq.get_queue(name)
        registry = ScheduledJobRegistry(queue=queue)
        for rq_job in map(queue.fetch_job, registry.get_job_ids() + queue.get_job_ids()):
            if rq_job is None or not rq_job.args or rq_job.args[0] != first_arg:
                continue
            if rq_job.func_name in tasks:
                registry.remove(rq_job)
                queue.remove(rq_job)
                rq_job.delete()
                removed += 1
    return removed


def queue_stats(name: str, now: datetime) -> dict[str, object]:
    """One queue's health: waiting, running, failed and scheduled counts, live workers, and
    the age in seconds of the oldest waiting task (None when none waits)."""
    queue = django_rq.get_queue(name)
    oldest_age = None
    first = queue.get_job_ids(0, 0)
    if first and (rq_job := queue.fetch_job(first[0])) and rq_job.enqueued_at:
        enqueued = rq_job.enqueued_at
        if enqueued.tzinfo is None:  # RQ keeps naive UTC
            enqueued = enqueued.replace(tzinfo=UTC)
        oldest_age = (now - enqueued).total_seconds()
    return {
        "name": name,
        "waiting": queue.count,
        "running": StartedJobRegistry(queue=queue).count,
        "failed": FailedJobRegistry(queue=queue).count,
        "scheduled": ScheduledJobRegistry(queue=queue).count,
        "workers": len(Worker.all(queue=queue)),
        "oldest_age_s": oldest_age,
    }
