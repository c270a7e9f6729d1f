"""Recovery passes and leases, against the real PostgreSQL (or SQLite) and Redis of the tests:
a job whose worker died, lost checks, lost queued work, two claimants, one pass at a time."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import PurePosixPath

import django_rq
import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from rq.cron import CronScheduler
from rq.job import Job as RQJob

from jobs import queues
from jobs.models import SeparationJob, job_storage_prefix
from jobs.services import MAX_ATTEMPTS, job_check, jobs_reconcile
from jobs.services.lease import job_claim, job_release, lease_kept
from jobs.tasks import run_job
from providers.local.client import LocalProvider
from stemweb.worker import StemwebWorker
from tests.fixtures import make_job, wait_until

Status = SeparationJob.Status
pytestmark = pytest.mark.django_db(transaction=True)


def job_conn():
    return django_rq.get_connection("default")


def _running(job: SeparationJob, **fields: object) -> SeparationJob:
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, **fields)
    job.refresh_from_db()
    return job


def _lapsed(job: SeparationJob, **fields: object) -> SeparationJob:
    """Running under a lease its worker stopped renewing a minute ago (SIGKILL)."""
    return _running(
        job,
        lease_token="dead-worker",
        lease_until=timezone.now() - timedelta(minutes=1),
        heartbeat=timezone.now() - timedelta(seconds=90),
        **fields,
    )


def test_a_job_whose_worker_died_goes_back_to_the_queue_and_runs(user, mixture):
    job = _lapsed(make_job(user, mixture), progress=0.17, provider_task_id=f"local-{user.pk}")
    django_rq.get_connection("default").flushdb()  # its RQ task died with the worker

    result = jobs_reconcile()

    assert result is not None and (result.requeued, result.failed) == (1, 0)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.progress) == (Status.QUEUED, 1, 0.0)
    assert job.lease_token == "" and job.provider_task_id == ""  # the engine starts over
    assert django_rq.get_queue("local").job_ids == [f"separate-{job.pk}-1"]
    django_rq.get_worker("local").work(burst=True)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.stems.count() == 2


def test_a_job_whose_worker_keeps_dying_fails_with_a_reason(user, mixture):
    job = _lapsed(make_job(user, mixture), attempts=MAX_ATTEMPTS - 1)
    result = jobs_reconcile()
    assert result is not None and result.failed == 1
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error == "The worker stopped responding 3 times while running this job."


def test_a_live_lease_is_left_alone(user, mixture):
    job = make_job(user, mixture)
    token = job_claim(str(job.pk), where_status=Status.QUEUED, status=Status.RUNNING)
    assert token is not None
    result = jobs_reconcile()
    assert result is not None and (result.requeued, result.failed, result.enqueued) == (0, 0, 0)
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.lease_token == token


def test_only_one_claimant_holds_a_job(user, mixture):
    job = _running(make_job(user, mixture))
    first = job_claim(str(job.pk))
    assert first is not None and job_claim(str(job.pk)) is None
    job_release(str(job.pk), "somebody-else")  # only the holder can release
    assert job_claim(str(job.pk)) is None
    job_release(str(job.pk), first)
    assert job_claim(str(job.pk)) is not None


def test_a_check_while_another_worker_holds_the_job_does_nothing(user, mixture):
    job = _running(make_job(user, mixture), provider="camb", provider_task_id="42")
    token = job_claim(str(job.pk))
    job_check(job_id=str(job.pk))  # would poll CAMB.AI, and fail: no sandbox runs here
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.checks == 0 and job.lease_token == token
    assert job.events.count() == 0


def test_the_lease_is_renewed_while_the_work_runs_and_released_after(user, mixture, settings):
    settings.STEMWEB_LEASE_S = 0.6  # renewed every 0.1 s
    job = _running(make_job(user, mixture))
    token = job_claim(str(job.pk))
    assert token is not None
    first = SeparationJob.objects.get(pk=job.pk)
    with lease_kept(str(job.pk), token):
        renewed = wait_until(
            lambda: (
                (row := SeparationJob.objects.get(pk=job.pk)).lease_until > first.lease_until
                and row
            ),
            "the lease renewed",
        )
        assert renewed.heartbeat > first.heartbeat
        assert jobs_reconcile().requeued == 0  # a slow step is not a dead one
    released = SeparationJob.objects.get(pk=job.pk)
    assert released.lease_token == "" and released.lease_until is None


def test_a_queued_job_redis_lost_is_enqueued_once(user, mixture):
    job = make_job(user, mixture)
    django_rq.get_connection("default").flushdb()
    assert jobs_reconcile().enqueued == 1
    assert jobs_reconcile().enqueued == 0  # RQ holds it now
    assert django_rq.get_queue("local").job_ids == [f"separate-{job.pk}-0"]


def test_a_lost_check_is_rescheduled_but_one_not_due_is_not(user, mixture):
    due_later = _running(
        make_job(user, mixture, name="later"),
        provider="camb",
        provider_task_id="7",
        next_check_at=timezone.now() + timedelta(minutes=20),  # a long poll interval
    )
    lost = _running(
        make_job(user, mixture, name="lost"),
        provider="camb",
        provider_task_id="8",
        next_check_at=timezone.now() - timedelta(minutes=5),
    )
    for _ in range(3):  # one pass per `make run` start: a healthy paid job is never failed
        jobs_reconcile()
    due_later.refresh_from_db()
    lost.refresh_from_db()
    assert (due_later.status, due_later.attempts) == (Status.RUNNING, 0)
    assert (lost.status, lost.attempts) == (Status.RUNNING, 0)
    checks = [
        RQJob.fetch(i, connection=django_rq.get_connection()).args
        for i in django_rq.get_queue("default").job_ids
    ]
    assert checks == [(str(lost.pk),)]  # once, though three passes ran


def test_a_remote_job_whose_worker_died_collecting_is_checked_not_resubmitted(user, mixture):
    job = _lapsed(make_job(user, mixture), provider="camb", provider_task_id="99")
    assert jobs_reconcile().requeued == 1
    job.refresh_from_db()
    assert (job.status, job.provider_task_id, job.attempts) == (Status.RUNNING, "99", 1)
    rq_job = RQJob.fetch(django_rq.get_queue("default").job_ids[0], connection=job_conn())
    assert (rq_job.func_name, rq_job.args) == (queues.CHECK_JOB, (str(job.pk),))


def test_an_interrupted_collection_leaves_no_orphan_files(user, mixture, stored):
    """A worker killed between saving a stem file and committing its row left the file."""
    job = make_job(user, mixture)
    orphan = stored.media / job_storage_prefix(job)
    orphan.mkdir(parents=True)
    (orphan / "foreground.flac").write_bytes(b"half a stem")
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    names = sorted(PurePosixPath(n).name for n in stored.names() if "/jobs/" in n)
    assert names == [
        "background.flac",
        "background.peaks.json",
        "foreground.flac",
        "foreground.peaks.json",
    ]


def test_one_pass_at_a_time(user, mixture):
    with queues.exclusive("reconcile", ttl_s=5) as alone:
        assert alone
        assert jobs_reconcile() is None
    assert jobs_reconcile() is not None


def test_recovery_runs_every_minute_and_workers_take_over_a_dead_scheduler_quickly():
    scheduler = CronScheduler(connection=job_conn())
    scheduler.load_config_from_file("stemweb.cron")  # what `manage.py rqcron stemweb.cron` loads
    (cron_job,) = scheduler.get_jobs()
    assert (cron_job.func_name, cron_job.interval) == (queues.RECONCILE, 60)
    scheduler.enqueue_jobs()  # due at once on start
    (rq_id,) = django_rq.get_queue("default").job_ids
    assert RQJob.fetch(rq_id, connection=job_conn()).func_name == queues.RECONCILE
    worker = StemwebWorker([django_rq.get_queue("default")], connection=job_conn(), worker_ttl=420)
    # RQ's scheduler lock lapses 60 s after its holder dies; maintenance retries taking it.
    assert worker.maintenance_interval == 60 and worker.dequeue_timeout == 60


def test_upload_temp_files_a_killed_web_worker_left_are_swept(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    old, live = tmp_path / "tmpab12.upload.flac", tmp_path / "tmpcd34.upload.wav"
    old.write_bytes(b"half an upload")
    live.write_bytes(b"an upload in progress")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    result = jobs_reconcile()
    assert result is not None and result.others["upload temp files removed"] == 1
    assert not old.exists() and live.exists()


def test_the_lease_thread_reconnects_when_its_database_connection_is_dropped(
    user, mixture, settings
):
    """PostgreSQL restarted, or a DBA terminated connections, while a worker downloads stems:
    the lease must go on being renewed, or recovery hands the job to a second collector."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates PostgreSQL backends")
    settings.STEMWEB_LEASE_S = 0.6  # renewed every 0.1 s
    job = _running(make_job(user, mixture))
    token = job_claim(str(job.pk))
    assert token is not None
    claimed = SeparationJob.objects.get(pk=job.pk).lease_until
    with lease_kept(str(job.pk), token):
        wait_until(  # the thread has its own connection now: it renewed once
            lambda: SeparationJob.objects.get(pk=job.pk).lease_until > claimed,
            "the first renewal",
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT array_agg(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (others,) = cursor.fetchone()
            assert others
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [others])

        def terminated() -> bool:  # pg_terminate_backend only signals: wait until they are gone
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s::int[])", [others]
                )
                return cursor.fetchone()[0] == 0

        wait_until(terminated, "the backends terminated")
        before = SeparationJob.objects.get(pk=job.pk).lease_until
        wait_until(  # the next renewal fails on the dropped connection; one after it succeeds
            lambda: SeparationJob.objects.get(pk=job.pk).lease_until > before,
            "a renewal on a new connection",
        )
        assert jobs_reconcile().requeued == 0


def test_a_dropped_database_connection_while_storing_stems_leaves_the_job_to_recovery(
    user, mixture, settings, monkeypatch, stored
):
    """The database terminates the worker's connection between separating and storing: the
    job is not failed (for a remote job the provider's work is paid for); recovery runs it
    again."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates PostgreSQL backends")
    settings.STEMWEB_LEASE_S = 0.6
    job = make_job(user, mixture)
    separated = LocalProvider.result

    def result_then_connection_dropped(self, ctx):  # type: ignore[no-untyped-def]
        pid = connection.connection.info.backend_pid  # this worker's connection

        def terminate() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            connection.close()

        killer = threading.Thread(target=terminate)
        killer.start()
        killer.join()
        return separated(self, ctx)

    monkeypatch.setattr(LocalProvider, "result", result_then_connection_dropped)
    with pytest.raises(OperationalError):
        run_job(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error, job.stems.count()) == (Status.RUNNING, "", 0)
    assert [n for n in stored.names() if "/jobs/" in n] == []
    monkeypatch.setattr(LocalProvider, "result", separated)

    # Silent for longer than a lease: recovery requeues it once the lease has run out.
    wait_until(lambda: jobs_reconcile().requeued == 1, "recovery requeued the job")
    run_job(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.attempts, job.stems.count()) == (Status.SUCCEEDED, 1, 2)
