"""The jobs ``throughput.py`` drives through the fault suite's world, and what it measures of
them: a watcher sampling the workers' state in Redis and the sandbox's tasks, and the rounds of
local and CAMB.AI jobs. Import it only once the world has set Django up."""

from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import django_rq
from django.db import transaction
from procstat import cpu_s
from rounds import Round
from rq import Worker
from rq.registry import FinishedJobRegistry

from jobs import queues
from jobs.models import JobEvent, SeparationJob
from tests.faults.lab import Lab
from tests.faults.world import World

SAMPLE_S = 0.05  # how often the watcher samples the workers and the sandbox's tasks
JOB_TIMEOUT_S = 1800.0  # for one round's jobs to end
_LOADED = re.compile(r"models loaded in ([0-9.]+) s")


def _when(moment: datetime | float) -> float:
    """Seconds since the epoch, from an aware datetime (naive ones are UTC, as RQ keeps them)."""
    if isinstance(moment, float):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Watcher(threading.Thread):
    """Every ``SAMPLE_S``: when each sandbox task finished, and (while ``recording``) how many
    RQ workers are busy, read from their state in Redis as ``rq info`` reads it."""

    def __init__(self, connection: Any, sandbox: Any) -> None:
        super().__init__(name="bench-watcher", daemon=True)
        self.connection, self.sandbox = connection, sandbox
        self.done_at: dict[str, float] = {}  # sandbox task id -> time it could answer SUCCESS
        self.samples: list[tuple[float, int, int]] = []  # (time, busy workers, workers)
        self.recording = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_S):
            now = time.time()
            for task in list(self.sandbox.tasks.values()):
                if task.id not in self.done_at and (task.run_id or task.status == "failed"):
                    self.done_at[task.id] = now
            if self.recording.is_set():
                workers = Worker.all(connection=self.connection)
                busy = sum(worker.get_state() == "busy" for worker in workers)
                self.samples.append((now, busy, len(workers)))


class Bench:
    def __init__(self, world: World, jobs: int, wait_s: float) -> None:
        self.world, self.jobs, self.wait_s = world, jobs, wait_s
        self.lab = Lab(world, quick=True)
        self.sources = world.dev_mixtures()
        self.watcher = Watcher(django_rq.get_connection("default"), world.sandbox)
        self.watcher.start()

    def commit_jobs(self, provider: str) -> tuple[list[str], float]:
        """``self.jobs`` jobs on the dev mixtures, committed (and so enqueued) at once."""
        with transaction.atomic():
            ids = [
                self.lab.job(provider, self.sources[k % len(self.sources)])
                for k in range(self.jobs)
            ]
        return ids, time.time()

    def wait_ended(self, ids: list[str], what: str) -> list[Any]:
        def ended() -> list[SeparationJob] | None:
            jobs = list(SeparationJob.objects.filter(pk__in=ids))
            return jobs if all(job.is_terminal for job in jobs) else None

        jobs: list[SeparationJob] = self.world.wait(ended, JOB_TIMEOUT_S, what, every_s=0.5)
        return jobs

    def wait_workers(self, count: int) -> None:
        self.world.wait(
            lambda: len(Worker.all(connection=self.watcher.connection)) == count,
            120,
            f"{count} workers to register with RQ",
        )

    def local(self, result: Round) -> None:
        ids, committed = self.commit_jobs("local")
        jobs = self.wait_ended(ids, f"{self.jobs} local jobs")
        result.problems += _failures(jobs)
        done = [job for job in jobs if job.status == SeparationJob.Status.SUCCEEDED]
        notes = {
            str(event.job_id): event
            for event in JobEvent.objects.filter(job__in=done, kind=JobEvent.Kind.NOTE)
        }
        last = max(_when(job.finished) for job in jobs)
        result.local_rate = len(done) / (last - committed) * 60
        for job in done:
            note = notes[str(job.pk)]
            wall = (job.finished - job.started).total_seconds()
            engine = (note.duration_ms or 0) / 1000
            result.local_wall.append(wall)
            result.local_engine.append(engine)
            result.local_overhead.append(wall - engine)
            result.local_collecting.append(_when(job.finished) - _when(note.created))
            if loaded := _LOADED.search(note.excerpt):
                result.local_loading.append(float(loaded.group(1)))
        if result.local_engine:
            per_job = result.workers * (last - committed) / len(done)
            result.local_cycle = per_job - statistics.mean(result.local_engine)

    def camb(self, result: Round) -> None:
        with self.lab.provider_busy() as release:
            ids, committed = self.commit_jobs("camb")
            self.world.wait(
                lambda: (
                    SeparationJob.objects.filter(
                        pk__in=ids, status=SeparationJob.Status.RUNNING, next_check_at__isnull=False
                    )
                    .exclude(provider_task_id="")
                    .count()
                    == len(ids)
                ),
                600,
                f"{self.jobs} CAMB.AI jobs to be submitted",
            )
            result.camb_submit_s = time.time() - committed
            self._sample_waiting(result)
            release.set()
            released = time.time()
        jobs = self.wait_ended(ids, f"{self.jobs} CAMB.AI jobs")
        result.problems += _failures(jobs)
        done = [job for job in jobs if job.status == SeparationJob.Status.SUCCEEDED]
        result.camb_rate = len(done) / (max(_when(job.finished) for job in jobs) - released) * 60
        for job in done:
            self._camb_job(job, result)

    def _sample_waiting(self, result: Round) -> None:
        """Busy workers while every CAMB.AI job waits on the (held) sandbox, and the checks."""
        waiting = SeparationJob.objects.filter(status=SeparationJob.Status.RUNNING)
        checked_before = sum(waiting.values_list("checks", flat=True))
        checker = self.world.children["checker"].process
        assert checker is not None
        cpu_before = cpu_s(checker.pid)
        self.watcher.samples.clear()
        self.watcher.recording.set()
        began = time.time()
        self.world.wait(lambda: time.time() - began >= self.wait_s, self.wait_s + 30, "time")
        self.watcher.recording.clear()
        ended = time.time()
        result.checker_checks = sum(waiting.values_list("checks", flat=True)) - checked_before
        cpu = cpu_s(checker.pid) - cpu_before
        result.checker_cpu_ms = cpu / max(result.checker_checks, 1) * 1000
        samples = [busy for _, busy, _ in self.watcher.samples]
        result.busy_mean = statistics.mean(samples)
        result.busy_max = max(samples)
        queue = django_rq.get_queue(queues.DEFAULT)
        registry = FinishedJobRegistry(queue=queue)
        horse = []
        for rq_job in queue.job_class.fetch_many(registry.get_job_ids(), queue.connection):
            if rq_job is None or rq_job.func_name != queues.CHECK_JOB:
                continue
            if rq_job.started_at and rq_job.ended_at and began <= _when(rq_job.started_at) < ended:
                horse.append((rq_job.ended_at - rq_job.started_at).total_seconds())
        result.checks = len(horse)
        result.check_horse_s = statistics.median(horse) if horse else 0.0
        result.checker_checks -= result.checks  # what the workers' checks counted

    def _camb_job(self, job: Any, result: Round) -> None:
        events = list(job.events.all())
        posted = next(e for e in events if e.method == "POST")
        polls = [e for e in events if e.url.endswith(f"audio-separation/{job.provider_task_id}")]
        success = polls[-1]  # the check that saw SUCCESS
        done_at = self.watcher.done_at[job.provider_task_id]
        seen = _when(success.created - timedelta(milliseconds=success.duration_ms or 0))
        wall = (job.finished - job.started).total_seconds()
        provider = done_at - _when(posted.created)
        poll_wait = max(0.0, seen - done_at)
        result.camb_provider.append(provider)
        result.camb_poll_wait.append(poll_wait)
        result.camb_overhead.append(wall - provider - poll_wait)
        result.camb_submitting.append(_when(posted.created) - _when(job.started))
        result.camb_collecting.append(_when(job.finished) - seen)


def _failures(jobs: list[Any]) -> list[str]:
    return [f"job {job.pk} {job.status}: {job.error[:200]}" for job in jobs if job.error]
