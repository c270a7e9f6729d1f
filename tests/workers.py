"""Work done as stemweb does it, in tests: the provider sandboxes over real HTTP, the checker's
and a worker's passes in-process until a job ends, and real worker processes run against the
test database, Redis and storage."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import django_rq
import pytest
from django.conf import settings
from django.db import connection
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from jobs.checker import check_due
from jobs.models import SeparationJob
from providers.sandboxing.state import Sandbox
from sandbox.server import serve
from stemweb.worker import StopsPromptly
from tests.fixtures import ROOT
from tests.storage import Stored

SANDBOX_KEY = "sandbox-key"


class StemwebSimpleWorker(StopsPromptly, SimpleWorker):
    """RQ's in-process worker (no fork per job), with stemweb's worker's teardown."""


@pytest.fixture(scope="session")
def sandbox(shared_dir):
    """The provider sandboxes on a free loopback port, for the whole session."""
    box = Sandbox(api_key=SANDBOX_KEY, callback_scale=0.005)  # retries after 0.3, 1.5, 4.5 s
    for mixture in sorted((shared_dir / "audio" / "dev").glob("*/mixture.flac")):
        box.add_track(mixture.parent.name, "audio-1", mixture)
    httpd, url = serve(box)
    box.url = url
    yield box
    httpd.shutdown()
    box.shutdown()


@pytest.fixture
def providers(sandbox, live_server, settings):
    """Every provider configured against the sandbox; stemweb reachable at the live server."""
    sandbox.clear_faults()
    base = {"api_key": SANDBOX_KEY, "enabled": True, "poll_s": 0.2, "deadline_s": 60}
    settings.STEMWEB_PROVIDERS = {
        "local": {"enabled": True},
        "camb": {**base, "base_url": f"{sandbox.url}/camb/apis"},
        "finevoice": {**base, "base_url": f"{sandbox.url}/finevoice"},
        "suno": {**base, "base_url": f"{sandbox.url}/suno", "poll_s": 2.0},
    }
    settings.STEMWEB_PUBLIC_URL = live_server.url
    settings.STEMWEB_FETCH_ALLOW_HOSTS = ["127.0.0.1", "localhost"]
    settings.STEMWEB_RETRY_BASE_S = 0.1
    settings.STEMWEB_HTTP_READ_TIMEOUT_S = 1.5  # the sandbox's "slow" fault waits 3 s
    return sandbox


def work_due(queue_names=("default", "local")) -> None:
    """One pass of what the checker and a worker started ``--with-scheduler`` do: check the
    remote jobs that are due (``jobs.checker.check_due``), move scheduled RQ jobs that are due
    (``enqueue_in``) onto their queues, then run every queued job with a real RQ worker.
    """
    check_due()

    queues = [django_rq.get_queue(name) for name in queue_names]
    for queue in queues:
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_jobs_to_schedule(int(time.time())):
            rq_job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if rq_job is not None:
                queue.enqueue_job(rq_job)
    StemwebSimpleWorker(queues, connection=queues[0].connection).work(burst=True)


def drain(job, timeout_s: float = 60.0):
    """Work the queues until the job ends; returns the row."""

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        work_due()
        row = SeparationJob.objects.get(pk=job.pk)
        if row.is_terminal:
            return row
        time.sleep(0.05)
    row = SeparationJob.objects.get(pk=job.pk)
    raise AssertionError(
        f"job {job.pk} still {row.status}: lease until {row.lease_until}, next check due "
        f"{row.next_check_at}, {row.checks} checks, {row.transient_errors} transient errors"
    )


def process_env(stored: Stored) -> dict[str, str]:
    """The environment of a stemweb process (a worker, the checker) run by a test: this
    process's, pointed at the test database, Redis and storage."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        **stored.worker_env(),
    }


def run_worker_burst(stored: Stored) -> subprocess.CompletedProcess[str]:
    """Run a real ``rqworker --burst`` in a subprocess against the test database, Redis and
    storage."""
    env = process_env(stored)
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "rqworker",
            "default",
            "local",
            "--burst",
            "--worker-class",
            "stemweb.worker.StemwebWorker",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
