"""Health checks for orchestrators (compose, Kubernetes, a load balancer).

- ``/healthz`` (web): :class:`HealthCheckMiddleware`, first in the chain, answers it before host
  validation, the HTTPS redirect, sessions, CSRF and rate limits: a probe's ``Host`` is the
  container's address, it speaks plain HTTP, and it must stay cheap (one ``SELECT 1``, one Redis
  ``PING``). 200 ``{"database": "ok", "redis": "ok"}`` when both answer, else 503 with the
  failing one's error in its place.
- ``manage.py worker_alive`` / ``cron_alive`` / ``checker_alive`` (worker, cron scheduler,
  checker): whether an RQ worker (a cron scheduler, a checker) registered from this host, whose
  process still runs here, has a heartbeat in Redis younger than its TTL. :func:`worker_alive`,
  :func:`cron_alive` and :func:`checker_alive` return the answer as
  ``(alive, one line saying why)``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.cron import CronScheduler
from rq.defaults import DEFAULT_CRON_SCHEDULER_TTL

from jobs.checker import HEARTBEAT_KEY, HEARTBEAT_TTL_S

HEALTH_PATH = "/healthz"
# A probe waits at most this long for each of Redis's connect and answer.
REDIS_TIMEOUT_S = 2.0


@cache
def redis_client(url: str) -> Redis:
    """One client (and connection pool) per URL for the probes, with short timeouts, so a
    Redis that black-holes packets fails the check instead of hanging it."""
    return Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )


def check_database() -> str:
    """``"ok"`` when the default database answers ``SELECT 1``, else the error, one line."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return _one_line(exc)
    return "ok"


def check_redis() -> str:
    """``"ok"`` when ``REDIS_URL`` answers ``PING``, else the error, one line."""
    try:
        redis_client(settings.REDIS_URL).ping()
    except RedisError as exc:
        return _one_line(exc)
    return "ok"


def healthz(request: HttpRequest) -> HttpResponse:
    """200 with ``{"database": "ok", "redis": "ok"}``; 503 with the error in place of "ok"."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    checks = {"database": check_database(), "redis": check_redis()}
    healthy = all(value == "ok" for value in checks.values())
    return HttpResponse(
        json.dumps(checks),
        status=200 if healthy else 503,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


class HealthCheckMiddleware:
    """Answers ``/healthz`` before any other middleware runs (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH:
            return healthz(request)
        return self.get_response(request)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _process_runs(pid: int | None) -> bool:
    """Whether a process with this id runs in this host's (container's) process namespace."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def worker_alive(
    *, connection: Redis, hostname: str | None = None, now: datetime | None = None
) -> tuple[bool, str]:
    """Whether an RQ worker registered from ``hostname`` (default: this host), with its process
    still running here, has a heartbeat younger than its TTL (``Worker.worker_ttl``, 420 s; a
    StemwebWorker beats at least every minute, idle or busy). Returns (alive, reason)."""
    hostname = hostname or socket.gethostname()
    now = now or datetime.now(UTC)
    try:
        workers = Worker.all(connection=connection)
    except RedisError as exc:
        return False, f"Redis unreachable: {_one_line(exc)}"
    here = [w for w in workers if w.hostname == hostname]
    if not here:
        return False, f"no RQ worker registered from host {hostname} ({len(workers)} elsewhere)"
    running = [w for w in here if _process_runs(w.pid)]
    if not running:
        pids = ", ".join(str(w.pid) for w in here)
        return False, f"RQ worker registered from {hostname}, but its process ({pids}) is gone"
    for worker in running:
        beat = worker.last_heartbeat  # aware, UTC
        if beat is not None and now - beat < timedelta(seconds=worker.worker_ttl):
            age = (now - beat).total_seconds()
            return True, f"RQ worker {worker.name} alive (heartbeat {age:.0f} s ago)"
    return False, f"RQ worker on {hostname}: no heartbeat in the last {running[0].worker_ttl} s"


def cron_alive(
    *, connection: Redis, hostname: str | None = None, now: datetime | None = None
) -> tuple[bool, str]:
    """Whether an RQ cron scheduler registered from ``hostname`` (default: this host), with its
    process still running here, has a heartbeat younger than RQ's TTL for it (120 s; it beats
    at least every minute). Read only: RQ's own clean-up of stale entries is not run."""
    hostname = hostname or socket.gethostname()
    now = now or datetime.now(UTC)
    try:
        schedulers = CronScheduler.all(connection, cleanup=False)
        here = [s for s in schedulers if s.hostname == hostname and _process_runs(s.pid)]
        beats = [(s, s.last_heartbeat) for s in here]
    except RedisError as exc:
        return False, f"Redis unreachable: {_one_line(exc)}"
    if not here:
        return False, f"no running cron scheduler registered from host {hostname}"
    ttl = timedelta(seconds=DEFAULT_CRON_SCHEDULER_TTL)
    for scheduler, beat in beats:
        if beat is not None and now - beat < ttl:
            age = (now - beat).total_seconds()
            return True, f"cron scheduler {scheduler.name} alive (heartbeat {age:.0f} s ago)"
    return False, f"cron scheduler on {hostname}: no heartbeat in the last {ttl.seconds} s"


def checker_alive(
    *, connection: Redis, hostname: str | None = None, now: datetime | None = None
) -> tuple[bool, str]:
    """Whether a checker registered from ``hostname`` (default: this host), with its process
    still running here, beat in the last ``HEARTBEAT_TTL_S`` seconds (``jobs.checker.beat``).
    Returns (alive, reason)."""
    hostname = hostname or socket.gethostname()
    now = now or datetime.now(UTC)
    try:
        keys = list(connection.scan_iter(HEARTBEAT_KEY.format(host=hostname, pid="*")))
        beats = {key: connection.get(key) for key in keys}
    except RedisError as exc:
        return False, f"Redis unreachable: {_one_line(exc)}"
    for key, value in beats.items():
        pid = int(_text(key).rsplit(":", 1)[1])
        if value is None or not _process_runs(pid):
            continue
        age = (now - datetime.fromisoformat(_text(value))).total_seconds()
        if age < HEARTBEAT_TTL_S:
            return True, f"checker {pid} alive (heartbeat {age:.0f} s ago)"
    return False, f"no running checker on host {hostname} beat in the last {HEARTBEAT_TTL_S} s"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
