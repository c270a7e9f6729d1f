#!/usr/bin/env python
"""A 190 MB WAV through the real upload view, served by gunicorn as the Docker image runs it.

Sets up its own PostgreSQL database (``stemweb_bench_upload_<checkout>`` on 127.0.0.1:5432,
dropped afterwards), its own Redis (the bundled one, on a free port), storage, upload temporary
directory and collected static files in a temporary directory, and two users with their teams,
signed in (real session rows and cookies). It writes a 190 MB WAV (MB as the upload limit
counts them, 2^20 bytes: 16-bit 44.1 kHz stereo, 18 min 49 s of the dev mixtures end to end)
and starts gunicorn as ``docker/entrypoint.sh`` does (2 workers x 4 threads) with the site's
limits in place: the 200 MB upload and body limits, 20 minutes, 30 s decoded on the web, the
upload rate limits. After small uploads that warm both workers (the second user's), it posts the
upload form (multipart, streamed from disk, with its CSRF token) ``--repeat`` times, and prints
for each: the time to the redirect to the new job, MB/s, and the resident memory of the
gunicorn worker that served it (its pid from the access log; ``/proc/<pid>/status``: VmRSS
before and after, VmHWM, the peak, reset before each upload through ``clear_refs``). Before
each upload, as the yardstick in the same run, the same body goes to a page that ignores it
(the team's usage page): gunicorn, the session and Django's multipart parser, which the CSRF
check runs, streaming the file into a temporary file; what the upload view adds is the
validation, the copy into storage and the job. Each upload must end as a project with the
file's size in storage, a queued job, and no temporary file left.

Target (issue 12): at least 87 MB/s including validation and 2 MB of resident memory growth,
measured before this benchmark existed; keep it there with the limits in place.
Run: .venv/bin/python benchmarks/upload.py [--repeat 5] [--mb 190] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from procstat import interrupted  # noqa: E402
from recordings import DEV  # noqa: E402
from served import (  # noqa: E402
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

MB = 1024 * 1024  # as STEMWEB_MAX_UPLOAD_MB counts
CHUNK = MB  # what the client sends at a time
UPLOAD_URL = "/projects/new/"
IGNORING_URL = "/team/usage/"  # a page that ignores a POST's body (the CSRF check parses it)
ACCESS_FORMAT = "%(p)s %(m)s %(U)s %(s)s %(M)s"  # <pid> method path status milliseconds
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def write_wav(path: Path, size: int) -> float:
    """A 16-bit 44.1 kHz stereo WAV of ``size`` bytes from the dev mixtures, end to end;
    returns its duration in seconds."""
    mixtures = sorted(DEV.glob("*/mixture.flac"))
    frames = (size - 44) // 4  # a 44-byte RIFF header, then 4 bytes a frame
    done, k = 0, 0
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16", format="WAV") as out:
        while done < frames:
            audio = sf.read(mixtures[k % len(mixtures)], dtype="float32", always_2d=True)[0]
            part = audio[: frames - done]
            out.write(part)
            done, k = done + len(part), k + 1
    return frames / 44100


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid``, in kB (``/proc/<pid>/status``)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current VmRSS (Linux: ``echo 5 > /proc/<pid>/clear_refs``)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


class Browser:
    """A signed-in user's browser: session cookie, CSRF cookie and the form's token."""

    def __init__(self, base: str, session: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.cookies = {"sessionid": session}

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def form_token(self) -> str:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        connection.request("GET", UPLOAD_URL, headers={"Cookie": self._cookie_header()})
        response = connection.getresponse()
        html = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("csrftoken="):
                self.cookies["csrftoken"] = value.split(";", 1)[0].split("=", 1)[1]
        connection.close()
        if response.status != 200 or not (match := _CSRF.search(html)):
            raise RuntimeError(f"the upload page answered {response.status}")
        return match.group(1)

    def upload(self, path: Path, name: str, url: str = UPLOAD_URL) -> tuple[float, int, str]:
        """POST the upload form with ``path`` streamed from disk to ``url``: (seconds from the
        first byte sent to the answer, status, Location)."""
        boundary = uuid.uuid4().hex
        fields = {
            "csrfmiddlewaretoken": self.form_token(),
            "provider": "local",
            "stem_set": "foreground_background",
            "name": name,
            "description": "",
        }
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
            .encode()
            for key, value in fields.items()
        )  # fmt: skip
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + path.stat().st_size + len(tail)

        def body() -> Iterator[bytes]:
            yield head
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
            yield tail

        connection = http.client.HTTPConnection(self.host, self.port, timeout=300)
        started = time.perf_counter()
        connection.request(
            "POST",
            url,
            body=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length),
                "Cookie": self._cookie_header(),
            },
        )
        response = connection.getresponse()
        response.read()
        seconds = time.perf_counter() - started
        connection.close()
        return seconds, response.status, response.getheader("Location") or ""


def served_by(access_log: Path, before: int, url: str = UPLOAD_URL) -> tuple[int, int]:
    """(gunicorn worker pid, server-side ms) of the last POST to ``url`` logged after byte
    ``before`` of the access log."""
    for _ in range(50):  # the line is written just after the answer
        lines = access_log.read_bytes()[before:].decode().splitlines()
        posts = [line.split() for line in lines if f" POST {url} " in line]
        if posts:
            pid, _, _, _, ms = posts[-1]
            return int(pid.strip("<>")), int(ms)
        time.sleep(0.1)
    raise RuntimeError(f"the POST to {url} is not in the access log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="measured uploads")
    parser.add_argument("--mb", type=int, default=190, help="size of the WAV, in MB (2^20 B)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)

    tmp = Path(tempfile.mkdtemp(prefix="stemweb-bench-upload-"))
    logs = tmp / "logs"
    logs.mkdir()
    pg_name = "stemweb_bench_upload_" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    redis = None
    server: subprocess.Popen[bytes] | None = None
    try:
        database_url = recreate_database(pg_name)
        redis = embedded_redis.start(tmp / "redis", persist=False)
        env = server_env(database_url, redis.url, tmp / "var")
        setup_django(env)
        from rows import job, member, session_keys  # models: once Django is set up

        sessions = {who: session_keys(member(f"{who}@example.com"), 1)[0]
                    for who in ("upload", "warm-up")}  # fmt: skip

        wav = tmp / "take.wav"
        duration = write_wav(wav, args.mb * MB)
        size_mb = wav.stat().st_size / MB
        small = sorted(DEV.glob("*/mixture.flac"))[0]
        print(
            f"PostgreSQL {pg_name}, Redis {redis.url}; gunicorn {WORKERS} workers x {THREADS} "
            f"threads; {os.cpu_count()} cores, load average "
            f"{', '.join(f'{n:.1f}' for n in os.getloadavg())}\n"
            f"{wav.name}: {size_mb:.1f} MB, {duration // 60:.0f} min {duration % 60:.0f} s of "
            f"16-bit 44.1 kHz stereo; limits: {settings.STEMWEB_MAX_UPLOAD_MB} MB, "
            f"{settings.STEMWEB_MAX_DURATION_S} s, {settings.STEMWEB_UPLOAD_CHECK_S} s decoded "
            f"on the web, uploads {settings.STEMWEB_UPLOAD_RATE_USER} per user and "
            f"{settings.STEMWEB_UPLOAD_RATE_TEAM} per team (count/seconds)\n",
            flush=True,
        )

        server, base = start_gunicorn(
            env,
            logs,
            extra_args=["--access-logformat", ACCESS_FORMAT],
            ready=lambda process: len(gunicorn_workers(process.pid)) == WORKERS,
        )
        workers = gunicorn_workers(server.pid)
        access_log = logs / "access.log"
        warm = Browser(base, sessions["warm-up"])
        warmed: set[int] = set()
        for attempt in range(8):  # until both workers have served an upload
            threads = [
                threading.Thread(target=warm.upload, args=(small, f"warm-up {attempt}.{k}"))
                for k in range(2)
            ]
            mark = access_log.stat().st_size if access_log.exists() else 0
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            lines = access_log.read_bytes()[mark:].decode().splitlines()
            warmed |= {int(line.split()[0].strip("<>")) for line in lines if " POST " in line}
            if warmed >= set(workers):
                break
        print(f"warmed gunicorn workers {sorted(warmed)} of {workers}\n")

        browser = Browser(base, sessions["upload"])
        rows = []
        for k in range(args.repeat):
            seconds, status, _ = browser.upload(wav, "ignored", url=IGNORING_URL)
            if status != 200:
                raise RuntimeError(f"{IGNORING_URL} answered {status}; see {logs}")
            yardstick = size_mb / seconds
            before = {pid: memory_kb(pid) for pid in workers}
            for pid in workers:
                reset_peak(pid)
            mark = access_log.stat().st_size
            seconds, status, location = browser.upload(wav, f"Upload {k + 1}")
            pid, server_ms = served_by(access_log, mark)
            after = memory_kb(pid)
            if status != 302 or not location.startswith("/jobs/"):
                raise RuntimeError(f"upload {k + 1} answered {status} {location}; see {logs}")
            uploaded = job(location.split("/")[2])
            stored = Path(uploaded.project.source.path)
            leftovers = list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir())
            wrong_size = stored.stat().st_size != wav.stat().st_size
            if wrong_size or uploaded.status != "queued" or leftovers:
                raise RuntimeError(f"upload {k + 1}: stored {stored}, left {leftovers}")
            growth = (after["VmRSS"] - before[pid]["VmRSS"]) / 1024
            peak = (after["VmHWM"] - before[pid]["VmRSS"]) / 1024
            rate = size_mb / seconds
            rows.append((rate, growth, peak, yardstick))
            print(
                f"upload {k + 1}: {seconds:.2f} s ({server_ms / 1000:.2f} s in gunicorn), "
                f"{rate:.0f} MB/s (the body ignored: {yardstick:.0f} MB/s); worker {pid}: RSS "
                f"{before[pid]['VmRSS'] / 1024:.1f} -> "
                f"{after['VmRSS'] / 1024:.1f} MB ({growth:+.1f} MB), peak "
                f"{after['VmHWM'] / 1024:.1f} MB ({peak:+.1f} MB)",
                flush=True,
            )

        rates, growths, peaks, yardsticks = (list(column) for column in zip(*rows, strict=True))
        ratio = statistics.median(r / y for r, y in zip(rates, yardsticks, strict=True))
        print(
            f"\n| file | uploads | MB/s median (min) | body ignored, MB/s median | upload / "
            f"ignored | RSS growth median (max) | peak over the start median (max) |\n"
            f"|---|---|---|---|---|---|---|\n"
            f"| {size_mb:.0f} MB WAV | {len(rows)} | {statistics.median(rates):.0f} "
            f"({min(rates):.0f}) | {statistics.median(yardsticks):.0f} | {ratio:.2f} | "
            f"{statistics.median(growths):+.1f} ({max(growths):+.1f}) MB | "
            f"{statistics.median(peaks):+.1f} ({max(peaks):+.1f}) MB |"
        )
        met = statistics.median(rates) >= 87 and statistics.median(growths) <= 2
        print(f"\ntarget (>= 87 MB/s, <= 2 MB RSS growth): {'met' if met else 'MISSED'}")
        print(f"load average at the end: {', '.join(f'{n:.1f}' for n in os.getloadavg())}")
        return 0
    finally:
        if server is not None:
            stop(server)
        if "django" in sys.modules:
            connections.close_all()
        if redis is not None:
            redis.stop()
        drop_database(pg_name)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
