"""The checker: the process that polls providers for the remote jobs waiting on them
(``manage.py checker``).

A remote job's next status check is a time on its row (``SeparationJob.next_check_at``, set by
``jobs.services.run``). Every ``TICK_S`` seconds the checker reads the due jobs nobody holds,
oldest first, and checks them in ``STEMWEB_CHECKER_THREADS`` threads: each check
claims the job's lease, polls its provider over HTTP, and schedules the next check, fails the
job, or hands it to an RQ worker to collect (collecting decodes audio: a worker's work). So a
job waiting on a provider takes no RQ worker, however many wait.

Several checkers may run, one per host: the lease makes each check happen once. When none
runs, recovery hands checks overdue by ``STEMWEB_RECOVERY_GRACE_S`` to the workers instead.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import DatabaseError, connection
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError

from jobs import queues
from jobs.models import SeparationJob
from jobs.services import job_check
from providers.http import tls_context

log = logging.getLogger(__name__)

TICK_S = 0.5  # how often the checker looks for due checks
# The heartbeat: one Redis key per checker process, its value the time of the last beat
# (ISO 8601, UTC), expiring after HEARTBEAT_TTL_S (stemweb.health.checker_alive reads it).
HEARTBEAT_KEY = "stemweb:checker:{host}:{pid}"
HEARTBEAT_TTL_S = 60
BEAT_S = HEARTBEAT_TTL_S / 4  # how often it beats: a missed beat or two is no death


def beat(connection: Redis, now: datetime | None = None) -> None:
    """Record in Redis that this checker process is alive."""
    key = HEARTBEAT_KEY.format(host=socket.gethostname(), pid=os.getpid())
    connection.set(key, (now or datetime.now(UTC)).isoformat(), ex=HEARTBEAT_TTL_S)


def jobs_due(now: datetime, *, limit: int, skip: Iterable[str] = ()) -> list[str]:
    """Ids of running jobs whose check is due at ``now`` and whose lease is free, the longest
    due first, at most ``limit``, none of ``skip`` (the checks already under way)."""
    due = (
        SeparationJob.objects.filter(status=SeparationJob.Status.RUNNING, next_check_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .exclude(pk__in=list(skip))
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:limit]
    )
    return [str(pk) for pk in due]


def check_due(now: datetime | None = None, limit: int = 100) -> int:
    """Check the due jobs one after another in this thread; the number checked. What a tick
    does, for tests and one-off use."""
    due = jobs_due(now or timezone.now(), limit=limit)
    return sum(job_check(job_id=job_id, collect_here=False) for job_id in due)


class Checker:
    """The checker's loop: due jobs from the database, checked by ``threads`` threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.todo: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.under_way: set[str] = set()
        self.lock = threading.Lock()
        self.checks = 0  # checks run since start
        self.beaten_at = -math.inf  # time.monotonic() of the last beat

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, then let the checks under way finish."""
        reverse("dashboard")  # built once here, not by each check: the URL resolver
        tls_context()  # and the TLS context of provider requests
        pool = [threading.Thread(target=self._work, name=f"check-{n}") for n in range(self.threads)]
        for thread in pool:
            thread.start()
        log.info("checker started: %d threads", self.threads)
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(TICK_S)
        finally:
            for _ in pool:
                self.todo.put(None)
            for thread in pool:
                thread.join()
            connection.close()
            log.info("checker stopped after %d checks", self.checks)

    def tick(self) -> int:
        """Queue the checks that are due, as many as the threads can take; the number queued.
        A database or Redis that does not answer is logged and tried again next tick."""
        if time.monotonic() - self.beaten_at >= BEAT_S:
            try:
                beat(queues.redis())
                self.beaten_at = time.monotonic()
            except RedisError:
                log.warning("checker: could not beat in Redis", exc_info=True)
        with self.lock:
            under_way = set(self.under_way)
        room = 2 * self.threads - len(under_way)  # one waiting per thread, no more
        if room <= 0:
            return 0
        try:
            due = jobs_due(timezone.now(), limit=room, skip=under_way)
        except DatabaseError:
            log.warning("checker: could not read the due checks", exc_info=True)
            connection.close()  # Django never reopens a dropped connection by itself
            return 0
        with self.lock:
            self.under_way.update(due)
        for job_id in due:
            self.todo.put(job_id)
        return len(due)

    def _work(self) -> None:
        """One of the threads: check the queued jobs until told to stop (None)."""
        try:
            while (job_id := self.todo.get()) is not None:
                self._check(job_id)
        finally:
            connection.close()  # this thread's own

    def _check(self, job_id: str) -> None:
        checked = False
        try:
            checked = job_check(job_id=job_id, collect_here=False)
        except DatabaseError:
            # Lost mid-check: left to recovery, as on a worker. This thread's connection is
            # closed so that its next check opens a new one.
            log.warning("checker: lost the database checking job %s", job_id, exc_info=True)
            connection.close()
        except Exception:
            log.exception("checker: the check of job %s stopped", job_id)
        finally:
            with self.lock:
                self.under_way.discard(job_id)
                self.checks += checked
