#!/usr/bin/env python
"""Memory of "download all": a zip of 12 ten-minute stems streamed by the web process.

Writes 12 ten-minute 44.1 kHz stereo 24-bit FLAC stems (about 1.3 GB of stem files in all),
makes a succeeded job of them in a throwaway database, then reads the job's zip through Django's
full stack (the same view and zipstream-ng generator a browser gets) and prints the bytes
streamed and the growth of this process's resident memory while it streamed.

Target (issue 5): memory growth under 50 MB.
Run: .venv/bin/python benchmarks/zip_stream.py [--stems 12] [--minutes 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from common import throwaway_database  # sets Django up: import it before any model

# isort: split
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, User
from accounts.services import team_ensure_personal
from jobs.models import SeparationJob, Stem
from library.models import Project


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 1048576


def write_stem(path: Path, minutes: float, seed: int) -> None:
    """A stem of quiet noise (incompressible enough to make real-sized FLAC), block by block."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", 44100, 2, "PCM_24", format="FLAC") as out:
        for _ in range(int(minutes * 60)):
            out.write((rng.standard_normal((44100, 2)) * 0.05).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stemweb-zip-") as tmp, throwaway_database():
        media = Path(tmp)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": media},
            },
        }
        user = User.objects.create_user(email="zip@example.com", password=None)
        team = team_ensure_personal(user=user)
        Membership.objects.filter(user=user).update(role="owner")
        project = Project.objects.create(
            team=team,
            name="Long",
            source="x.flac",
            container="FLAC",
            duration_s=args.minutes * 60,
            sample_rate=44100,
            channels=2,
        )
        job = SeparationJob.objects.create(project=project, stem_set="multi_12", status="succeeded")
        started = time.perf_counter()
        total_files = 0
        for i in range(args.stems):
            name = f"stem{i:02d}"
            path = media / f"{name}.flac"
            write_stem(path, args.minutes, i)
            total_files += path.stat().st_size
            Stem.objects.create(
                job=job,
                name=name,
                file=path.name,
                format="flac",
                duration_s=args.minutes * 60,
                sample_rate=44100,
                channels=2,
                size_bytes=path.stat().st_size,
            )
        print(
            f"wrote {args.stems} stems of {args.minutes:g} min, {total_files / 1e6:.0f} MB, "
            f"in {time.perf_counter() - started:.0f} s"
        )
        client = Client()
        client.force_login(user)
        # The first request also imports and builds what every later one reuses (views,
        # zipstream, URL resolver): reported apart; streaming memory is the second request's.
        cold = rss_mb()
        for _ in client.get(reverse("job_zip", args=[job.pk, "flac"])).streaming_content:
            pass
        print(f"first (cold) request: {rss_mb() - cold:.1f} MB of one-time growth")
        before = peak = rss_mb()
        started = time.perf_counter()
        response = client.get(reverse("job_zip", args=[job.pk, "flac"]))
        streamed = 0
        for chunk in response.streaming_content:
            streamed += len(chunk)
            peak = max(peak, rss_mb())
        elapsed = time.perf_counter() - started
        assert streamed == int(response["Content-Length"])
        print(
            f"streamed {streamed / 1e6:.0f} MB zip in {elapsed:.1f} s "
            f"({streamed / 1e6 / elapsed:.0f} MB/s)"
        )
        growth = peak - before
        verdict = "ok" if growth < 50 else "MISSED"
        print(
            f"memory: {before:.0f} MB before, {peak:.0f} MB at most while streaming: "
            f"growth {growth:.1f} MB (target < 50 MB: {verdict})"
        )


if __name__ == "__main__":
    main()
