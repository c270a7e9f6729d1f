#!/usr/bin/env python
"""The job page's htmx poll under load, against a static file served in the same run.

Sets up its own PostgreSQL database (``stemweb_bench_poll_<checkout>`` on 127.0.0.1:5432,
dropped afterwards), its own Redis (the bundled one, on a free port) and collected static files,
fills in one user, their team, a project and a running job, and signs the user in (a real
session row and cookie). Then it starts gunicorn as the Docker image does (2 workers x 4
threads) and, for ``--seconds`` each after a warm-up, runs ``--pollers`` concurrent pollers:

- on the job's status fragment (``GET /jobs/<id>/`` with ``HX-Request: true``), each poller
  acting like a browser's HTTP cache: it keeps the body and ``ETag`` of the last 200 and sends
  ``If-None-Match`` with it, so a 304 is what htmx then sees as the same 200;
- on a static file whitenoise serves (``js/polling.js``, hashed name), the yardstick.

It prints requests/s, p50 and p99 of each and the poll's share of the static rate. With
``--baseline REV`` (default ``main``) it does the same first for the code at that git revision
(``git archive``, same database, Redis and static files), so before and after come from one run.

Target (issue 12): the poll at >= 40 % of the static file's rate, p99 < 100 ms.
Run: .venv/bin/python benchmarks/poll.py [--seconds 10] [--pollers 50] [--baseline REV|'']
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stemweb.lib import embedded_redis  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
WORKERS, THREADS = 2, 4  # docker/entrypoint.sh's defaults (WEB_CONCURRENCY, GUNICORN_THREADS)


def _pg_admin(statement: sql.Composed) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


@dataclass
class Tally:
    """Latencies (ms) and answers of one phase."""

    times: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float, status: int) -> None:
        with self.lock:
            self.times.append(ms)
            self.statuses[status] = self.statuses.get(status, 0) + 1


def _poller(
    base: str,
    url: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    stop: threading.Event,
    tally: Tally,
    record: threading.Event,
) -> None:
    cached: tuple[str, bytes] | None = None  # (ETag, body): the browser cache's entry
    host, port = base.removeprefix("http://").split(":")
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    # http.client, not httpx: a lighter client leaves more of the machine's cores to gunicorn.
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    while not stop.is_set():
        sent = {**headers, "Cookie": cookie}
        if cached is not None:
            sent["If-None-Match"] = cached[0]
        started = time.perf_counter()
        connection.request("GET", url, headers=sent)
        response = connection.getresponse()
        body = response.read()
        ms = (time.perf_counter() - started) * 1000
        if response.status == 200 and (etag := response.getheader("ETag")):
            cached = (etag, body)
        elif response.status == 304:
            assert cached is not None and response.getheader("ETag") == cached[0]
            body = cached[1]  # what the page receives
        elif response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
        if record.is_set():
            tally.add(ms, response.status)
    connection.close()


def load(
    base: str,
    url: str,
    *,
    headers: dict[str, str],
    cookies: dict[str, str],
    pollers: int,
    seconds: float,
    warmup: float,
) -> tuple[Tally, float]:
    """Run ``pollers`` threads on ``url``; returns the tally of the measured ``seconds`` and the
    measured wall time."""
    stop, record, tally = threading.Event(), threading.Event(), Tally()
    threads = [
        threading.Thread(
            target=_poller, args=(base, url, headers, cookies, stop, tally, record), daemon=True
        )
        for _ in range(pollers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    record.set()
    started = time.perf_counter()
    time.sleep(seconds)
    record.clear()
    wall = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return tally, wall


def start_gunicorn(
    cwd: Path, env: dict[str, str], logs: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = embedded_redis.free_port()
    log = (logs / f"gunicorn-{cwd.name}.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")), "stemweb.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--threads", str(THREADS),
            "--timeout", "300", "--access-logfile", str(logs / f"access-{cwd.name}.log"),
        ],
        cwd=cwd, env={**env, "PYTHONPATH": str(cwd)}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/accounts/login/", timeout=2)
            return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not answer; see {logs}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def summary(name: str, tally: Tally, wall: float) -> tuple[float, float, float]:
    rate = len(tally.times) / wall
    p50 = statistics.median(tally.times)
    p99 = statistics.quantiles(tally.times, n=100)[-1]
    answers = ", ".join(f"{n} x {code}" for code, n in sorted(tally.statuses.items()))
    print(f"  {name}: {rate:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms ({answers})")
    return rate, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--baseline", default="main", help="git revision to measure first; ''")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="stemweb-bench-poll-"))
    logs = tmp / "logs"
    logs.mkdir()
    pg_name = "stemweb_bench_poll_" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    name = sql.Identifier(pg_name)
    _pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    _pg_admin(sql.SQL("CREATE DATABASE {}").format(name))
    redis = embedded_redis.start(tmp / "redis", persist=False)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "stemweb.settings",
            "DATABASE_URL": f"{PG_SERVER}/{pg_name}",
            "REDIS_URL": redis.url,
            "STEMWEB_VAR_DIR": str(tmp / "var"),
            "SECRET_KEY": "benchmark-only-" + "x" * 40,
            "DEBUG": "false",
            "STEMWEB_SANDBOX": "false",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.templatetags.static import static
        from django.test import Client
        from django.utils import timezone

        from accounts.services import team_ensure_personal
        from jobs.models import SeparationJob
        from library.models import Project

        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        user = get_user_model().objects.create_user(email="poll@example.com", password=None)
        team = team_ensure_personal(user=user)
        project = Project.objects.create(
            team=team, created_by=user, name="Polled take", source="x/take.flac",
            container="FLAC", codec="PCM_16", duration_s=180.0, sample_rate=44100, channels=2,
            size_bytes=30_000_000, sha256="0" * 64,
        )  # fmt: skip
        job = SeparationJob.objects.create(
            project=project, created_by=user, stem_set="foreground_background",
            status=SeparationJob.Status.RUNNING, progress=0.42, started=timezone.now(),
        )  # fmt: skip
        browser = Client()
        browser.force_login(user)
        cookies = {k: v.value for k, v in browser.cookies.items()}
        poll_url, static_url = f"/jobs/{job.pk}/", static("js/polling.js")
        print(
            f"PostgreSQL {pg_name}, Redis {redis.url}; gunicorn {WORKERS} workers x {THREADS} "
            f"threads; {args.pollers} pollers, {args.seconds:.0f} s each after "
            f"{args.warmup:.0f} s of warm-up; {os.cpu_count()} cores\n"
        )

        trees: list[tuple[str, Path]] = []
        if args.baseline:
            tree = tmp / "baseline"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            trees.append((f"baseline ({args.baseline})", tree))
        trees.append(("this checkout", ROOT))

        rows = []
        for label, tree in trees:
            print(f"{label}:")
            server, base = start_gunicorn(tree, env, logs)
            servers.append(server)
            common = {"cookies": cookies, "pollers": args.pollers, "seconds": args.seconds}
            poll = load(
                base, poll_url, headers={"HX-Request": "true"}, warmup=args.warmup, **common
            )
            still = load(base, static_url, headers={}, warmup=args.warmup, **common)
            stop(server)
            servers.remove(server)
            poll_row = summary("poll", *poll)
            static_row = summary("static file", *still)
            ratio = poll_row[0] / static_row[0]
            print(f"  poll / static: {ratio:.2f}\n")
            rows.append((label, poll_row, static_row, ratio))

        print("| code | poll req/s | poll p50 / p99 (ms) | static req/s | static p50 / p99 (ms) "
              "| ratio |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for label, (rate, p50, p99), (s_rate, s_p50, s_p99), ratio in rows:
            print(
                f"| {label} | {rate:,.0f} | {p50:.1f} / {p99:.1f} | {s_rate:,.0f} | "
                f"{s_p50:.1f} / {s_p99:.1f} | {ratio:.2f} |"
            )
        _, (rate, _, p99), (s_rate, _, _), ratio = rows[-1]
        verdict = "met" if ratio >= 0.4 and p99 < 100 else "MISSED"
        print(f"\ntarget (poll >= 40 % of static, p99 < 100 ms): {verdict}")
    finally:
        for server in servers:
            stop(server)
        from django.db import connections

        connections.close_all()
        redis.stop()
        _pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
