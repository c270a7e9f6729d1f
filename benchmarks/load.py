"""benchmarks/poll.py's load generators: wrk with ``poll.lua`` (the default), or one Python
thread per poller with ``http.client``; each returns the measured ``Phase`` and its own CPU
seconds."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK_THREADS = 2


@dataclass
class Phase:
    """One measured phase: rate (requests/s), latencies (ms), answers by status, and the CPU
    (cores, averaged over the phase) of the server, the load generator and all else."""

    rate: float
    p50: float
    p99: float
    statuses: dict[int, int]
    server_cpu: float = 0.0
    services_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float = 0.0
    split: list[int] = field(default_factory=list)  # the connections each worker served

    @property
    def cpu_ms(self) -> float:
        """CPU time per request (ms) of gunicorn, the database backends and Redis: steadier
        than the rate when other processes take cores away, since it counts only what serving
        the requests spent."""
        return (self.server_cpu + self.services_cpu) / self.rate * 1000

    def line(self) -> str:
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.rate:7,.0f} req/s, p50 {self.p50:6.1f} ms, p99 {self.p99:6.1f} ms, "
            f"CPU {self.cpu_ms:.2f} ms/req; cores: "
            f"gunicorn {self.server_cpu:.2f}, database + Redis {self.services_cpu:.2f}, "
            f"client {self.client_cpu:.2f}, other {self.other_cpu:.2f}; connections per "
            f"worker {'/'.join(map(str, self.split)) or '?'} ({answers})"
        )


@dataclass(frozen=True)
class Load:
    """What a load generator sends: ``pollers`` connections for ``seconds``, each request as
    the next of ``browsers`` (its ``Cookie`` header and the ``ETag`` its cache holds, if any)
    with ``headers``."""

    browsers: list[tuple[str, str | None]]
    headers: dict[str, str]
    pollers: int
    seconds: int

    def sent(self, n: int) -> dict[str, str]:
        """The headers the ``n``-th browser (round robin) sends."""
        cookie, etag = self.browsers[n % len(self.browsers)]
        return {**self.headers, "Cookie": cookie, **({"If-None-Match": etag} if etag else {})}


def run_wrk(base: str, url: str, load: Load) -> tuple[Phase, float]:
    """One wrk run of ``load``; returns the phase (CPU not filled in) and wrk's own CPU
    seconds."""
    command = [
        "wrk", f"-t{WRK_THREADS}", f"-c{load.pollers}", f"-d{load.seconds}s",
        "--timeout", "30s", "-s", str(ROOT / "benchmarks" / "poll.lua"),
    ]  # fmt: skip
    for name, value in load.headers.items():
        command += ["-H", f"{name}: {value}"]
    command += [base + url, "--", *(f"{cookie}\t{etag or ''}" for cookie, etag in load.browsers)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.startswith("POLL ")]
    if process.returncode or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    result = json.loads(lines[-1].removeprefix("POLL "))
    if result["socket_errors"]:
        raise RuntimeError(f"wrk: socket errors on {url}:\n{output}")
    phase = Phase(
        rate=result["requests"] / (result["duration_us"] / 1e6),
        p50=result["p50_us"] / 1000,
        p99=result["p99_us"] / 1000,
        statuses={int(code): n for code, n in result["statuses"].items()},
    )
    return phase, usage.ru_utime + usage.ru_stime


def _poller(
    conn: tuple[str, int],
    url: str,
    headers: dict[str, str],
    stop: threading.Event,
    record: threading.Event,
    out: list[tuple[float, int]],
) -> None:
    # (ETag, body): the browser cache's entry; the body a 304 stands for is not needed here
    etag = headers.pop("If-None-Match", None)
    cached = (etag, b"") if etag else None
    connection = http.client.HTTPConnection(*conn, timeout=30)
    while not stop.is_set():
        sent = dict(headers)
        if cached is not None:
            sent["If-None-Match"] = cached[0]
        started = time.perf_counter()
        connection.request("GET", url, headers=sent)
        response = connection.getresponse()
        body = response.read()
        ms = (time.perf_counter() - started) * 1000
        if response.status == 200 and (etag := response.getheader("ETag")):
            cached = (etag, body)
        elif response.status not in (200, 304):
            raise RuntimeError(f"{url}: {response.status}")
        if record.is_set():
            out.append((ms, response.status))  # list.append is atomic under the GIL
    connection.close()


def run_python(base: str, url: str, load: Load) -> tuple[Phase, float]:
    """``load`` from one thread per poller with http.client (the fallback without wrk); returns
    the phase and this process's CPU seconds meanwhile."""
    host, port = base.removeprefix("http://").split(":")
    stop, record = threading.Event(), threading.Event()
    out: list[tuple[float, int]] = []
    threads = [
        threading.Thread(
            target=_poller,
            args=(
                (host, int(port)), url, load.sent(i),
                stop, record, out,
            ),
            daemon=True,
        )
        for i in range(load.pollers)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every poller has its first 200 (and ETag)
    cpu, started = time.process_time(), time.perf_counter()
    record.set()
    time.sleep(load.seconds)
    record.clear()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    times = [ms for ms, _ in out]
    statuses: dict[int, int] = {}
    for _, status in out:
        statuses[status] = statuses.get(status, 0) + 1
    phase = Phase(
        rate=len(times) / wall,
        p50=statistics.median(times),
        p99=statistics.quantiles(times, n=100)[-1],
        statuses=statuses,
    )
    return phase, cpu
