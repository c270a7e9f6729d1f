"""stemweb's RQ worker: RQ's fork-per-job worker, plus a job row that never stays ``running``
when the forked work-horse dies (killed for memory, a segfault in a decoder), maintenance every
minute, so a dead worker's scheduler lock is taken over quickly, and what every work-horse needs
built once before the first fork."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse
from rq import Worker

from audio.engine.modelfiles import ModelFilesError, verified
from jobs import queues
from jobs.models import SeparationJob
from jobs.services import job_fail
from providers.http import tls_context

if TYPE_CHECKING:
    from resource import struct_rusage

    from rq.job import Job

log = logging.getLogger(__name__)


# RQ's worker maintenance (cleaning registries of abandoned jobs, and trying to take the
# scheduler lock when no live scheduler holds it) runs every 10 minutes by default, and an idle
# worker only gets to it between blocking reads of up to 405 s (its TTL, 420 s, less 15): a
# worker started after another died could not schedule anything for about 7 minutes (measured:
# 407 s). Every minute, and an idle worker wakes at least that often.
MAINTENANCE_INTERVAL_S = 60


class StopsPromptly:
    """An RQ worker whose teardown stops its pub/sub thread within a second or so.

    RQ (2.12 and 3.0 alike) listens for commands in a thread that waits up to 60 s per read
    (``run_in_thread(sleep_time=60)``), and its ``Worker.unsubscribe`` sends UNSUBSCRIBE before
    it stops that thread. The server's reply wakes the thread; when the thread reads it before
    the flag is tripped (likely on a busy machine), it goes back to waiting up to 60 s, now for a
    subscription that never comes. redis-py 8.2's ``PubSubWorkerThread.stop()`` joins the thread
    with no timeout, so the teardown of every worker that ran a job (a deploy, a scale-down,
    SIGTERM, a burst worker) could take a minute; up to 8.1 ``stop()`` only tripped the flag.

    Tripping the flag first, without waiting, makes the reply the thread's last read: it wakes,
    sees the flag and ends. Needs redis-py >= 8.2 (``stop(timeout=)``).
    """

    name: str
    pubsub: Any
    pubsub_thread: Any
    pubsub_channel_name: str

    def unsubscribe(self) -> None:
        thread = self.pubsub_thread
        if thread is None:
            return
        log.info("worker %s: unsubscribing from %s", self.name, self.pubsub_channel_name)
        try:
            thread.stop(timeout=0)
            if thread.is_alive():  # an ended thread has closed the pub/sub already
                self.pubsub.unsubscribe()
                thread.join(timeout=5)
        finally:
            self.pubsub.close()
            self.pubsub_thread = None


class StemwebWorker(StopsPromptly, Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL_S)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """How long an idle worker blocks on Redis before its heartbeat and maintenance."""
        return min(super().dequeue_timeout, MAINTENANCE_INTERVAL_S)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Check the local engine's model files once, before the first job forks from here.

        A problem is logged in words (each job would fail with the same words); a good result
        stays cached for every forked work-horse, which then skips hashing ~100 MB per job.
        """
        super().bootstrap(*args, **kwargs)
        warm_up()
        if settings.STEMWEB_PROVIDERS["local"]["enabled"]:
            try:
                verified(Path(settings.STEMWEB_MODEL_DIR))
            except ModelFilesError as exc:
                log.error("local engine unavailable: %s", exc)

    def handle_work_horse_killed(
        self, job: Job, retpid: int | None, ret_val: int | None, rusage: struct_rusage | None
    ) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if job.func_name != queues.RUN_JOB or not job.args:
            return

        how = f"signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else "exit"
        reason = (
            f"The worker process died while running this job ({how}); it may have run out "
            "of memory. Retry it, or try a shorter recording."
        )
        job_row = SeparationJob.objects.filter(pk=job.args[0]).first()
        if job_row is not None and job_fail(job_row, reason):
            log.warning("job %s failed: work-horse died (%s)", job_row.pk, how)


def warm_up() -> None:
    """Build what every work-horse would otherwise build again, and lose when it exits: Django's
    URL resolver (each job step reverses its callback URL) and the TLS context of provider
    requests. They were most of a remote job's status check, which a worker runs for every
    waiting job each poll interval: 210-280 ms in the work-horse without, 80-120 ms with
    (``benchmarks/throughput.py``, 10 CAMB.AI jobs waiting, on a busy 2-core machine).
    """
    reverse("dashboard")  # populates the resolver behind every reverse()
    tls_context()
