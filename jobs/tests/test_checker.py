"""The checker (jobs.checker): remote jobs waiting on their provider are polled by it, over real
HTTP against the CAMB.AI sandbox, in threads, with nothing for the RQ workers until a job is
ready to collect; and the real `manage.py checker` process beats, checks and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import django_rq
import pytest
from django.conf import settings
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.registry import ScheduledJobRegistry

from jobs import queues
from jobs.checker import BEAT_S, Checker, check_due, jobs_due
from jobs.models import SeparationJob
from jobs.services import job_create
from jobs.services import run as run_service
from jobs.tasks import run_job
from stemweb.health import checker_alive
from tests.fixtures import ROOT, make_job, make_project
from tests.workers import process_env, work_due

pytestmark = pytest.mark.django_db(transaction=True)
Status = SeparationJob.Status


def _camb(user, mixture, name="Song"):
    return job_create(
        project=make_project(user, mixture, name),
        user=user,
        provider_key="camb",
        stem_set="foreground_background",
    )


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_jobs_waiting_on_their_provider_are_polled_by_the_checker_not_the_workers(
    providers, user, mixture
):
    jobs = [_camb(user, mixture, f"Song {n}") for n in range(3)]
    default = django_rq.get_queue(queues.DEFAULT)
    default.empty()  # their run tasks: run here instead
    for job in jobs:
        run_job(str(job.pk))  # a worker's part: submit
    assert ScheduledJobRegistry(queue=default).count == 0
    assert [j.func_name for j in default.jobs] == []
    rows = SeparationJob.objects.filter(pk__in=[j.pk for j in jobs])
    assert all(r.provider_task_id and r.next_check_at for r in rows)

    checker = Checker(threads=4)
    stop = threading.Event()
    loop = threading.Thread(target=checker.run, args=(stop,))
    loop.start()
    try:
        _wait(lambda: default.count == 3, 90, "the checker to hand three finished jobs over")
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()

    handed = sorted(tuple(rq_job.args) for rq_job in default.jobs)
    assert handed == sorted((str(j.pk),) for j in jobs)
    assert {rq_job.func_name for rq_job in default.jobs} == {queues.CHECK_JOB}
    for row in rows.all():  # read again
        assert row.status == Status.RUNNING and row.checks >= 1  # polled by the checker
        assert row.lease_until is None  # every check gave its lease back
        assert row.next_check_at > timezone.now() + timedelta(seconds=30)  # left to a worker
    assert checker.checks >= 3
    assert jobs_due(timezone.now(), limit=10) == []

    work_due()  # a worker collects each: one more poll, then the stems
    for row in rows.all():
        assert row.status == Status.SUCCEEDED, row.error
        assert row.stems.count() == 2
        assert row.events.filter(method="POST").count() == 1  # submitted once, by the worker


def test_a_submission_to_retry_is_handed_to_a_worker_not_made_by_the_checker(
    providers, user, mixture
):
    providers.set_fault("camb", "server_error", times=1)
    job = _camb(user, mixture)
    default = django_rq.get_queue(queues.DEFAULT)
    default.empty()
    run_job(str(job.pk))  # the submission meets a 500: retried later
    job.refresh_from_db()
    assert job.provider_task_id == "" and job.transient_errors == 1
    SeparationJob.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    posts = job.events.filter(method="POST").count()

    assert check_due() == 1
    assert job.events.filter(method="POST").count() == posts  # the checker uploads nothing
    assert [(j.func_name, j.args) for j in default.jobs] == [(queues.CHECK_JOB, (str(job.pk),))]
    work_due()
    job.refresh_from_db()
    assert job.provider_task_id  # submitted by the worker


def test_jobs_due_skips_held_leases_checks_under_way_and_ended_jobs(user, mixture):
    now = timezone.now()
    due = [make_job(user, mixture, name=f"Due {n}") for n in range(5)]
    for n, job in enumerate(due):
        SeparationJob.objects.filter(pk=job.pk).update(
            status=Status.RUNNING, next_check_at=now - timedelta(seconds=10 - n)
        )
    first, held, under_way, ended, later = (str(j.pk) for j in due)
    SeparationJob.objects.filter(pk=held).update(lease_until=now + timedelta(seconds=30))
    SeparationJob.objects.filter(pk=ended).update(status=Status.CANCELED)
    SeparationJob.objects.filter(pk=later).update(next_check_at=now + timedelta(seconds=5))
    assert jobs_due(now, limit=10, skip=[under_way]) == [first]
    SeparationJob.objects.filter(pk=held).update(lease_until=now - timedelta(seconds=1))
    assert jobs_due(now, limit=10) == [first, held, under_way]  # a lapsed lease is free
    assert jobs_due(now, limit=1) == [first]


def test_the_checker_process_beats_checks_and_stops_on_sigterm(providers, user, mixture, stored):
    job = _camb(user, mixture)
    default = django_rq.get_queue(queues.DEFAULT)
    default.empty()
    run_job(str(job.pk))
    env = {
        **process_env(stored),
        "STEMWEB_CAMB_BASE_URL": settings.STEMWEB_PROVIDERS["camb"]["base_url"],
        "STEMWEB_CAMB_API_KEY": settings.STEMWEB_PROVIDERS["camb"]["api_key"],
        "STEMWEB_CAMB_POLL_S": "0.2",
        "STEMWEB_PUBLIC_URL": settings.STEMWEB_PUBLIC_URL,
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "checker", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait(lambda: default.count == 1, 90, "the checker process to hand the job over")
        alive, reason = checker_alive(connection=queues.redis())
        assert alive, reason
        assert f"checker {process.pid} alive" in reason
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output[-2000:]
    assert "checker stopped after" in output
    job.refresh_from_db()
    assert job.checks >= 1 and job.lease_until is None


def test_a_hand_over_while_redis_is_down_is_tried_again_not_failed(
    providers, user, mixture, monkeypatch
):
    job = _camb(user, mixture)
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, provider_task_id="t-1")

    def refused(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(queues, "_enqueue_now", refused)
    before = timezone.now()
    run_service._hand_over(job)
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.error == ""
    poll_s = 0.2  # the providers fixture's CAMB.AI poll interval
    assert before < job.next_check_at <= timezone.now() + timedelta(seconds=poll_s + 1)
    monkeypatch.undo()
    run_service._hand_over(job)
    job.refresh_from_db()
    assert job.next_check_at > timezone.now() + timedelta(seconds=30)  # a worker has it now
    default = django_rq.get_queue(queues.DEFAULT)
    assert (queues.CHECK_JOB, (str(job.pk),)) in [(j.func_name, j.args) for j in default.jobs]


def test_it_beats_every_quarter_of_the_heartbeats_life_not_every_tick(monkeypatch):
    beats = []
    monkeypatch.setattr("jobs.checker.beat", lambda connection: beats.append(connection))
    loop = Checker(threads=1)
    loop.tick()
    loop.tick()
    assert len(beats) == 1  # the second tick, 0 s later, has nothing to say
    loop.beaten_at -= BEAT_S
    loop.tick()
    assert len(beats) == 2
