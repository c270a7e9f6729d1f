"""The fault suite's world: its own database, Redis, storage, provider sandbox, webhook receiver
and real child processes (the RQ worker and RQ's cron scheduler), all removed at exit. The
benchmarks use it too (``benchmarks/throughput.py``), with production timing and more workers.

Nothing here imports Django models: the world sets the environment, then calls
``django.setup()``; the faults and measurements are imported after that.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import soundfile as sf
from psycopg import sql

from providers.sandboxing.state import Sandbox
from sandbox.server import serve
from stemweb.lib import embedded_redis
from tests.faults.loopback import Receiver, SandboxGate
from tests.faults.processes import RESTART_DELAY_S, Child

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("STEMWEB_SHARED_DIR", ROOT.parent / "shared"))
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SANDBOX_KEY = "sandbox-key"
MANAGE = [sys.executable, str(ROOT / "manage.py")]
# The documented worker (README, docker/entrypoint.sh `worker`) and cron scheduler.
WORKER = [*MANAGE, "rqworker", "default", "local", "--with-scheduler"]
WORKER += ["--worker-class", "stemweb.worker.StemwebWorker"]
CRON = [*MANAGE, "rqcron", "stemweb.cron"]
CHECKER = [*MANAGE, "checker"]
RECOVER = [*MANAGE, "recover_jobs"]

# Time, scaled so a fault recovers in seconds (production defaults in brackets): a lease lapses
# 6 s after its worker died [30], recovery runs every 5 s [60] and counts scheduled work lost
# 5 s past due [60]; CAMB.AI is polled every second [5]; transient provider errors back off from
# 0.5 s doubling to 4 s [2, 120] for up to 10 minutes [15]; webhook retries come after 3, 15
# and 45 s instead of 1, 5 and 15 minutes (x0.05).
WEBHOOK_RETRY_SCALE = 0.05
TIMING = {
    "STEMWEB_LEASE_S": "6",
    "STEMWEB_RECONCILE_EVERY_S": "5",
    "STEMWEB_RECOVERY_GRACE_S": "5",
    "STEMWEB_CAMB_POLL_S": "1",
    "STEMWEB_RETRY_BASE_S": "0.5",
    "STEMWEB_RETRY_MAX_DELAY_S": "4",
    "STEMWEB_RETRY_WINDOW_S": "600",
    "STEMWEB_HTTP_READ_TIMEOUT_S": "10",
    "STEMWEB_WEBHOOK_RETRY_SCALE": str(WEBHOOK_RETRY_SCALE),
    "STEMWEB_WEBHOOK_TIMEOUT_S": "5",
}


def checkout_hash() -> str:
    return hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]


def postgres_answers() -> bool:
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _pg_admin(statement: sql.Composable) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


class World:
    """Set up with ``World(...).open()``; ``close()`` (also at exit) kills the children, stops
    Redis and the sandbox, drops the database and removes the temporary directory.

    ``name`` names the database (``stemweb_<name>_<checkout>``) and the temporary directory, so
    a benchmark's world and the fault suite's never share one; ``timing`` is the environment of
    scaled times (the fault suite's ``TIMING``; ``{}`` for production defaults).
    """

    def __init__(
        self,
        *,
        keep: bool = False,
        sqlite: bool = False,
        name: str = "faults",
        timing: Mapping[str, str] = TIMING,
    ) -> None:
        self.keep = keep
        self.sqlite = sqlite  # even when PostgreSQL answers
        self.name = name
        self.timing = dict(timing)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"stemweb-{name}-"))
        self.media = self.tmp / "media"
        self.logs = self.tmp / "logs"
        self.audio = self.tmp / "audio"
        for path in (self.media, self.logs, self.audio, self.tmp / "var" / "static"):
            path.mkdir(parents=True)
        (self.tmp / "childtmp").mkdir()
        self.pg_name: str | None = None
        self.redis: embedded_redis.EmbeddedRedis | None = None
        self.redis_port = 0
        self.children: dict[str, Child] = {}
        self.sandbox: Any = None
        self.gate: SandboxGate | None = None
        self._httpd: Any = None
        self.receiver = Receiver(embedded_redis.free_port())
        self.env: dict[str, str] = {}
        self._closed = False
        atexit.register(self.close)

    # --- set-up ---------------------------------------------------------------------------

    def open(self) -> World:
        if not self.sqlite and postgres_answers():
            self.pg_name = f"stemweb_{self.name}_{checkout_hash()}"
            name = sql.Identifier(self.pg_name)
            _pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            _pg_admin(sql.SQL("CREATE DATABASE {}").format(name))
            database_url = f"{PG_SERVER}/{self.pg_name}"
        else:
            database_url = f"sqlite:///{self.tmp / 'var' / 'faults.sqlite3'}"
        self.redis = embedded_redis.start(self.tmp / "redis", persist=True)
        self.redis_port = int(self.redis.url.rsplit(":", 1)[1].split("/")[0])
        from cryptography.fernet import Fernet

        sandbox_port = embedded_redis.free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis.url,
            "STEMWEB_VAR_DIR": str(self.tmp / "var"),
            "STEMWEB_MEDIA_ROOT": str(self.media),
            "STEMWEB_MODEL_DIR": os.environ.get("STEMWEB_MODEL_DIR", str(ROOT / "var" / "models")),
            "SECRET_KEY": "fault-suite-only-" + "x" * 40,
            "STEMWEB_FERNET_KEYS": Fernet.generate_key().decode(),
            "STEMWEB_FETCH_ALLOW_HOSTS": "127.0.0.1,localhost",
            "STEMWEB_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",  # the harness's receiver only
            "STEMWEB_PUBLIC_URL": "http://127.0.0.1:9",  # no web server: CAMB gets uploads
            "TMPDIR": str(self.tmp / "childtmp"),  # what a SIGKILL leaves in temp dirs goes away
            "LOG_LEVEL": "INFO",
            **self.timing,
        }
        for key, path in (("CAMB", "/camb/apis"), ("FINEVOICE", "/finevoice"), ("SUNO", "/suno")):
            self.env[f"STEMWEB_{key}_API_KEY"] = SANDBOX_KEY
            self.env[f"STEMWEB_{key}_BASE_URL"] = sandbox_url + path
        os.environ.update(self.env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "stemweb.settings"
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        self._serve_sandbox(sandbox_port)
        child_env = {**os.environ, **self.env}
        self.children = {
            "worker": Child("worker", WORKER, child_env, self.logs, before=[RECOVER]),
            "cron": Child("cron", CRON, child_env, self.logs),
            "checker": Child("checker", CHECKER, child_env, self.logs),
        }
        for child in self.children.values():
            child.start()
        return self

    def _serve_sandbox(self, port: int) -> None:
        self.sandbox = Sandbox(api_key=SANDBOX_KEY)
        self._httpd, _ = serve(self.sandbox, port=port)
        self.gate = SandboxGate(self._httpd.get_app())
        self._httpd.set_app(self.gate)

    @property
    def database(self) -> str:
        if self.pg_name:
            return f"PostgreSQL (database {self.pg_name} on 127.0.0.1:5432)"
        if self.sqlite:
            return "SQLite (--sqlite)"
        return "SQLite (no PostgreSQL answered on 127.0.0.1:5432)"

    def long_mixture(self, seconds: float = 120.0) -> Path:
        """The dev mixtures joined end to end into one ``seconds``-long FLAC (cached)."""
        path = self.audio / f"long-{seconds:.0f}s.flac"
        if path.exists():
            return path
        parts, total, rate = [], 0, 44100
        sources = sorted((SHARED / "audio" / "dev").glob("*/mixture.flac"))
        while total < seconds * rate:
            for source in sources:
                audio, rate = sf.read(source, dtype="float32", always_2d=True)
                parts.append(audio)
                total += len(audio)
        sf.write(path, np.concatenate(parts)[: int(seconds * rate)], rate, "PCM_16")
        return path

    def dev_mixtures(self) -> list[Path]:
        return sorted((SHARED / "audio" / "dev").glob("*/mixture.flac"))

    # --- faults' tools ----------------------------------------------------------------------

    def restart_worker(self) -> None:
        """The Docker worker's start again: ``recover_jobs``, then the documented worker."""
        self.children["worker"].start()

    def add_worker(self) -> str:
        """Start one more documented worker beside the first (``docker compose --scale``);
        returns its name among the children."""
        name = f"worker-{sum(n.startswith('worker') for n in self.children) + 1}"
        self.children[name] = Child(name, WORKER, {**os.environ, **self.env}, self.logs)
        self.children[name].start()
        return name

    def supervise(self) -> list[str]:
        """Start again any child that exited by itself, as a process supervisor would (Docker's
        ``restart: always``); returns the names of those restarted."""
        restarted = []
        for name, child in self.children.items():
            if child.process is None or child.process.poll() is None:
                continue
            if time.monotonic() - child.started_at < RESTART_DELAY_S:
                continue
            child.exits.append(child.process.returncode)
            child.start()
            restarted.append(name)
        return restarted

    def redis_stop(self) -> None:
        assert self.redis is not None
        self.redis.stop()

    def redis_start(self) -> None:
        self.redis = embedded_redis.start(self.tmp / "redis", persist=True, port=self.redis_port)

    def wait(
        self, predicate: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.2
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy, restarting children that
        exited by themselves meanwhile; TimeoutError naming ``what``."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.supervise()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(every_s)

    def tails(self, lines: int = 30) -> str:
        return "\n".join(child.tail(lines) for child in self.children.values())

    # --- tear-down --------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for child in self.children.values():
            try:
                child.stop(timeout_s=5)
            except Exception as exc:  # keep tearing down the rest
                print(f"{self.name}: could not stop {child.name}: {exc}", file=sys.stderr)
        self.receiver.stop()
        if self.gate is not None:
            self.gate.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self.sandbox.shutdown()  # drops the tasks not started
            # A split still running writes its stems after an early rmtree, into a directory it
            # makes again, which then stays in /tmp.
            self.sandbox.pool.shutdown(wait=True)
            shutil.rmtree(self.sandbox.files, ignore_errors=True)
        if self.redis is not None:
            self.redis.stop()
        if self.pg_name:
            with contextlib.suppress(Exception):  # Django may not be set up yet
                from django.db import connections

                connections.close_all()
            try:
                name = sql.Identifier(self.pg_name)
                _pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            except psycopg.Error as exc:
                print(f"{self.name}: could not drop {self.pg_name}: {exc}", file=sys.stderr)
        if self.keep:
            print(f"{self.name}: kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
