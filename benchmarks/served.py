"""What the benchmarks that serve stemweb with gunicorn share: a PostgreSQL database of their
own, the environment stemweb runs with there (production settings, no sandbox), and gunicorn
started as the Docker image starts it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import django
import httpx
import psycopg
from django.core.management import call_command
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stemweb.lib import embedded_redis  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
WORKERS, THREADS = 2, 4  # docker/entrypoint.sh's defaults (WEB_CONCURRENCY, GUNICORN_THREADS)


def pg_admin(statement: sql.Composed) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def recreate_database(name: str) -> str:
    """Drop (if there) and create the database ``name``; its URL."""
    pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    pg_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{PG_SERVER}/{name}"


def drop_database(name: str) -> None:
    pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_env(database_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    """This process's environment plus what stemweb needs to run in production mode on the
    benchmark's own database, Redis and files."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "stemweb.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STEMWEB_VAR_DIR": str(var_dir),
        "SECRET_KEY": "benchmark-only-" + "x" * 40,
        "DEBUG": "false",
        "STEMWEB_SANDBOX": "false",
        "LOG_LEVEL": "WARNING",
    }


def setup_django(env: dict[str, str]) -> None:
    """Take ``env`` (``server_env``'s) into this process, set Django up on it, migrate and
    collect the static files: the benchmark's own database and files are ready to serve, and
    ``rows`` can be imported."""
    os.environ.update(env)
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)


def start_gunicorn(
    env: dict[str, str],
    logs: Path,
    *,
    cwd: Path = ROOT,
    tag: str = "",
    extra_args: Sequence[str] = (),
    ready: Callable[[subprocess.Popen[bytes]], bool] = lambda process: True,
) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn (``WORKERS`` x ``THREADS``) on a free loopback port serving the code in ``cwd``,
    once its login page answers and ``ready(process)`` holds; the process and its base URL."""
    port = embedded_redis.free_port()
    suffix = f"-{tag}" if tag else ""
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")), "stemweb.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--threads", str(THREADS),
            "--timeout", "300", "--access-logfile", str(logs / f"access{suffix}.log"),
            *extra_args,
        ],
        cwd=cwd, env={**env, "PYTHONPATH": str(cwd)},
        stdout=(logs / f"gunicorn{suffix}.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/accounts/login/", timeout=2)
            if ready(process):
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not answer; see {logs}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
