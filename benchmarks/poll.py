#!/usr/bin/env python
"""The job page's htmx poll under load, against a static file served in the same run.

Sets up its own PostgreSQL database (``stemweb_bench_poll_<checkout>`` on 127.0.0.1:5432,
dropped afterwards), its own Redis (the bundled one, on a free port) and collected static files,
fills in one user, their team, a project and a running job, and signs the user in ``--pollers``
times (real session rows and cookies: one browser each). It starts gunicorn as the Docker image
does (2 workers x 4 threads) for this checkout and, with ``--baseline REV`` (default ``main``;
``''`` for none), for the code at that git revision (``git archive``; same database, with that
revision's migrations applied too, same Redis and static files), both kept running. Then
``--rounds`` times, each server in turn (the order alternating from round to round) gets two
phases of ``--seconds`` each after ``--warmup``; an answer other than 200 or 304 stops the run:

- the poll: ``--pollers`` connections on the job's status fragment (``GET /jobs/<id>/`` with
  ``HX-Request: true``), each request as the next browser: its session's cookie and, in
  ``If-None-Match``, the ``ETag`` of the 200 that session got first (an ETag is per session), as
  a browser's cache sends it (a 304 is what htmx then sees as that 200);
- the yardstick: the same connections on a static file whitenoise serves (``js/polling.js``,
  hashed name), sent the same way (so 304s from whitenoise).

The load comes from ``wrk`` (``apt-get install wrk``; ``benchmarks/poll.lua`` adds the cookies
and the ETag) when it is installed, else (or with ``--client python``) from one thread per poller
with ``http.client``. The Python client shares the GIL among its threads and takes about a core
of the two here: it caps the static file's rate far more than the poll's, so its ratios read
high and vary with the machine's other load; wrk takes a fraction of a core.

Per phase it records requests/s, p50 and p99 (ms), the answers, and the CPU (in cores, from
``/proc``) that gunicorn, this benchmark's PostgreSQL backends and Redis, the load generator and
everything else on the machine used meanwhile: other processes on a shared machine are the main
source of noise, and the CPU time spent per request (gunicorn, database and Redis) varies far
less with them than the rate. It prints each round, then per server the median over the rounds
with the spread (min-max) of the rate, p50, p99 and CPU per request, and of the poll's share of
the static file measured in the same round: by rate (the target's measure), and by CPU per
request (the static file's over the poll's: the rate ratio to expect when serving has the cores
to itself).

Target (issue 12): the poll at >= 40 % of the static file's rate, p99 < 100 ms (medians).
Run: .venv/bin/python benchmarks/poll.py [--rounds 5] [--seconds 5] [--warmup 1] [--pollers 50]
     [--client wrk|python] [--baseline REV|'']
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.templatetags.static import static  # noqa: E402
from load import Load, Phase, run_python, run_wrk  # noqa: E402
from procstat import TICK, busy_ticks, connections_per_worker, ticks, tree_ticks  # noqa: E402
from served import (  # noqa: E402
    PG_SERVER,
    THREADS,
    WORKERS,
    drop_database,
    recreate_database,
    server_env,
    setup_django,
    start_gunicorn,
    stop,
)

from stemweb.lib import embedded_redis  # noqa: E402


def measure(
    client: str,
    server: subprocess.Popen[bytes],
    services: Callable[[], list[int]],
    base: str,
    url: str,
    *,
    headers: dict[str, str],
    cookies: list[str],
    pollers: int,
    seconds: int,
    warmup: int,
) -> Phase:
    """Warm up, then one measured phase with the machine's CPU split among gunicorn, the
    ``services`` (the pids of this benchmark's database backends and Redis), the load generator
    and the rest."""
    run = run_wrk if client == "wrk" else run_python
    # Each browser's cache already holds its answer: a page that polls got its 200 long ago.
    browsers = [
        (cookie, httpx.get(base + url, headers={**headers, "Cookie": cookie}).headers.get("ETag"))
        for cookie in cookies
    ]
    load = Load(browsers, headers, pollers, seconds)
    run(base, url, dataclasses.replace(load, seconds=warmup))
    busy, ours, theirs = busy_ticks(), tree_ticks(server.pid), ticks(services())
    split: list[int] = []  # read once the load generator's connections are all open
    port = int(base.rsplit(":", 1)[1])
    sampler = threading.Timer(1.0, lambda: split.extend(connections_per_worker(server.pid, port)))
    sampler.start()
    started = time.perf_counter()
    phase, client_s = run(base, url, load)
    wall = time.perf_counter() - started
    sampler.join()
    phase.split = split
    busy, ours = busy_ticks() - busy, tree_ticks(server.pid) - ours
    theirs = {pid: ticks - theirs.get(pid, 0) for pid, ticks in ticks(services()).items()}
    phase.server_cpu = ours / TICK / wall
    phase.services_cpu = sum(theirs.values()) / TICK / wall
    phase.client_cpu = client_s / wall
    ours_all = phase.server_cpu + phase.services_cpu + phase.client_cpu
    phase.other_cpu = max(0.0, busy / TICK / wall - ours_all)
    if unexpected := {code: n for code, n in phase.statuses.items() if code not in (200, 304)}:
        raise RuntimeError(f"{base}{url} answered {unexpected}; see gunicorn's log (--keep)")
    return phase


# --- Servers ---------------------------------------------------------------------------------


def _spread(values: list[float], fmt: str) -> str:
    return (
        f"{format(statistics.median(values), fmt)} "
        f"({format(min(values), fmt)}-{format(max(values), fmt)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--client", choices=("wrk", "python"), default=None)
    parser.add_argument("--baseline", default="main", help="git revision to measure too; ''")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    client = args.client or ("wrk" if shutil.which("wrk") else "python")

    tmp = Path(tempfile.mkdtemp(prefix="stemweb-bench-poll-"))
    logs = tmp / "logs"
    logs.mkdir()
    pg_name = "stemweb_bench_poll_" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    database_url = recreate_database(pg_name)
    redis = embedded_redis.start(tmp / "redis", persist=False)
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        env = server_env(database_url, redis.url, tmp / "var")
        setup_django(env)
        from rows import member, running_job, session_keys  # models: once Django is set up

        user = member("poll@example.com")
        job = running_job(user)
        cookies = [
            f"{settings.SESSION_COOKIE_NAME}={key}" for key in session_keys(user, args.pollers)
        ]
        poll_url, static_url = f"/jobs/{job.pk}/", static("js/polling.js")

        trees: list[tuple[str, Path]] = []
        if args.baseline:
            tree = tmp / "baseline"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            # Its own migrations too (the database is this checkout's so far): a newer baseline
            # may add columns its code reads.
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
                cwd=tree, env={**env, "PYTHONPATH": str(tree)}, check=True,
            )  # fmt: skip
            revision = subprocess.run(
                ["git", "rev-parse", "--short", args.baseline],
                cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            trees.append((f"baseline ({args.baseline} = {revision})", tree))
        trees.append(("this checkout", ROOT))
        for i, (label, tree) in enumerate(trees):
            servers[label] = start_gunicorn(env, logs, cwd=tree, tag=str(i))

        def services() -> list[int]:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", [pg_name]
                ).fetchall()
            return [redis.process.pid, *(pid for (pid,) in rows)]

        print(
            f"PostgreSQL {pg_name}, Redis {redis.url}; gunicorn {WORKERS} workers x {THREADS} "
            f"threads per server; load from {client}, {args.pollers} connections and sessions; "
            f"{args.rounds} rounds of {args.seconds:g} s per phase after {args.warmup:g} s of "
            f"warm-up; {os.cpu_count()} cores; load average at start "
            f"{Path('/proc/loadavg').read_text().split()[0]}\n"
        )

        results: dict[str, list[tuple[Phase, Phase]]] = {label: [] for label, _ in trees}
        common = {"cookies": cookies, "pollers": args.pollers, "warmup": args.warmup,
                  "seconds": args.seconds}  # fmt: skip
        for n in range(args.rounds):
            order = trees if n % 2 == 0 else trees[::-1]
            print(f"round {n + 1}:")
            for label, _ in order:
                server, base = servers[label]
                poll = measure(
                    client, server, services, base, poll_url, headers={"HX-Request": "true"},
                    **common,
                )  # fmt: skip
                still = measure(client, server, services, base, static_url, headers={}, **common)
                results[label].append((poll, still))
                print(f"  {label}\n    poll:   {poll.line()}\n    static: {still.line()}")
        print(
            f"\nload average at the end {Path('/proc/loadavg').read_text().split()[0]}\n\n"
            f"medians over {args.rounds} rounds (min-max):\n"
        )
        print(
            "| code | poll req/s | poll p50 (ms) | poll p99 (ms) | poll CPU (ms/req) "
            "| static req/s | static CPU (ms/req) | poll / static: rate | poll / static: CPU |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for label, _ in trees:
            rows = results[label]
            polls, stills = [p for p, _ in rows], [s for _, s in rows]
            print(
                f"| {label} | {_spread([p.rate for p in polls], ',.0f')} "
                f"| {_spread([p.p50 for p in polls], '.1f')} "
                f"| {_spread([p.p99 for p in polls], '.1f')} "
                f"| {_spread([p.cpu_ms for p in polls], '.2f')} "
                f"| {_spread([s.rate for s in stills], ',.0f')} "
                f"| {_spread([s.cpu_ms for s in stills], '.2f')} "
                f"| {_spread([p.rate / s.rate for p, s in rows], '.2f')} "
                f"| {_spread([s.cpu_ms / p.cpu_ms for p, s in rows], '.2f')} |"
            )
        rows = results[trees[-1][0]]
        ratio = statistics.median(p.rate / s.rate for p, s in rows)
        p99 = statistics.median(p.p99 for p, _ in rows)
        verdict = "met" if ratio >= 0.4 and p99 < 100 else "MISSED"
        print(f"\ntarget (median poll >= 40 % of static, median p99 < 100 ms): {verdict}")
    finally:
        for server, _ in servers.values():
            stop(server)
        connections.close_all()
        redis.stop()
        drop_database(pg_name)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
