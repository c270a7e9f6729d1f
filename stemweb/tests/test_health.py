"""/healthz for the web, and the worker's, cron scheduler's and checker's liveness commands,
against the test run's real database and Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connections
from rq.cron import CronScheduler
from rq.cron_scheduler_registry import get_registry_key
from rq.utils import now, utcformat

from jobs.checker import HEARTBEAT_KEY, HEARTBEAT_TTL_S, beat
from stemweb.worker import StemwebWorker
from tests.fixtures import ROOT


def test_healthz_answers_200_when_database_and_redis_answer(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):  # SELECT 1; no session, no user
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_any_host_over_plain_http(client, db, settings):
    # A probe's Host is the container's address, and it never speaks TLS.
    settings.ALLOWED_HOSTS = ["stems.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_healthz_refuses_other_methods(client, db):
    assert client.post("/healthz").status_code == 405


def test_healthz_answers_503_naming_redis_when_it_is_unreachable(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"] != "ok"
    assert "Connection refused" in body["redis"] or "connect" in body["redis"].lower()


def test_healthz_answers_503_naming_the_database_when_it_fails(client, db, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch:  # undone before the test's transaction rolls back
        patch.setattr(connections["default"], "cursor", broken_cursor)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "database": "server closed the connection unexpectedly",
        "redis": "ok",
    }


@pytest.fixture
def redis():
    return django_rq.get_connection("default")


@pytest.fixture
def worker(redis):
    """A worker registered from this host and process, as `rqworker` registers itself."""
    worker = StemwebWorker(["default", "local"], connection=redis)
    worker.register_birth()
    worker.heartbeat()
    yield worker
    worker.register_death()


def _worker_alive() -> str:
    call_command("worker_alive", stdout=(out := _Out()))
    return out.text


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_worker_alive_passes_with_a_registered_worker_beating(worker):
    assert f"RQ worker {worker.name} alive" in _worker_alive()


def test_worker_alive_fails_with_no_worker(redis):
    with pytest.raises(CommandError, match="no RQ worker registered from host") as caught:
        _worker_alive()
    assert caught.value.returncode == 1


def test_worker_alive_fails_when_the_heartbeat_is_older_than_the_ttl(worker, redis):
    stale = now() - timedelta(seconds=worker.worker_ttl + 5)
    redis.hset(worker.key, "last_heartbeat", utcformat(stale))
    with pytest.raises(CommandError, match="no heartbeat in the last 420 s"):
        _worker_alive()


def test_worker_alive_fails_when_the_registered_process_is_gone(worker, redis):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    redis.hset(worker.key, "pid", gone.pid)
    with pytest.raises(CommandError, match=r"its process .* is gone"):
        _worker_alive()


def test_worker_alive_ignores_workers_of_other_hosts(worker, redis):
    redis.hset(worker.key, "hostname", "another-container")
    with pytest.raises(CommandError, match=r"no RQ worker registered from host .* \(1 elsewhere\)"):
        _worker_alive()


def test_worker_alive_exits_1_with_one_line_on_stderr():
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "worker_alive"],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no RQ worker registered from host" in result.stderr


@pytest.fixture
def cron(redis):
    scheduler = CronScheduler(connection=redis)
    scheduler.register_birth()
    yield scheduler


def test_cron_alive_passes_with_a_registered_scheduler_beating(cron):
    out = _Out()
    call_command("cron_alive", stdout=out)
    assert f"cron scheduler {cron.name} alive" in out.text


def test_cron_alive_fails_with_no_scheduler(redis):
    with pytest.raises(CommandError, match="no running cron scheduler"):
        call_command("cron_alive")


def test_cron_alive_fails_when_the_heartbeat_is_stale(cron, redis):
    redis.zadd(get_registry_key(), {cron.name: (now() - timedelta(seconds=300)).timestamp()})
    with pytest.raises(CommandError, match="no heartbeat in the last 120 s"):
        call_command("cron_alive")


def _checker_alive() -> str:
    call_command("checker_alive", stdout=(out := _Out()))
    return out.text


def test_checker_alive_passes_after_a_beat_from_a_running_process(redis):
    beat(redis)
    assert f"checker {os.getpid()} alive" in _checker_alive()


def test_checker_alive_fails_with_no_checker(redis):
    with pytest.raises(CommandError, match="no running checker on host") as caught:
        _checker_alive()
    assert caught.value.returncode == 1


def test_checker_alive_fails_when_the_beat_is_older_than_its_ttl(redis):
    beat(redis, now=now() - timedelta(seconds=HEARTBEAT_TTL_S + 5))
    with pytest.raises(CommandError, match="no running checker"):
        _checker_alive()


def test_checker_alive_fails_when_the_beating_process_is_gone(redis):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    key = HEARTBEAT_KEY.format(host=socket.gethostname(), pid=gone.pid)
    redis.set(key, now().isoformat(), ex=HEARTBEAT_TTL_S)
    with pytest.raises(CommandError, match="no running checker"):
        _checker_alive()
