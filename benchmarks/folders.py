#!/usr/bin/env python
"""Folder and dashboard speed at scale: 10,000 projects in 200 folders.

Creates a throwaway test database (PostgreSQL when DATABASE_URL points at it, else SQLite),
fills one team with 10,000 projects (each with a job) spread over 200 nested folders, then
times requests through Django's full stack (middleware, views, templates; no network) and prints
the median and 95th percentile of each:

- the dashboard (all projects, newest first, page 1 of 200);
- a folder page (one folder's projects, breadcrumbs, the 200-folder tree);
- a search across all projects.

Target (issue 4): each median under 100 ms on this machine.
Run: .venv/bin/python benchmarks/folders.py [--projects N] [--folders N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import throwaway_database  # sets Django up: import it before any model

# isort: split
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, User
from accounts.services import team_ensure_personal
from jobs.models import SeparationJob
from library.models import Folder, Project


def fill(projects: int, folders: int):  # type: ignore[no-untyped-def]
    user = User.objects.create_user(email="bench@example.com", password=None)
    team = team_ensure_personal(user=user)
    Membership.objects.filter(user=user).update(role="owner")
    made: list[Folder] = []
    for i in range(folders):  # ten top-level folders, the rest nested below them
        parent = made[i % 10] if i >= 10 else None
        made.append(Folder.objects.create(team=team, parent=parent, name=f"Folder {i:03d}"))
    Project.objects.bulk_create(
        (
            Project(
                team=team,
                created_by=user,
                name=f"Take {i:05d}",
                folder=made[i % folders],
                source=f"x/{i}.flac",
                container="FLAC",
                codec="PCM_16",
                duration_s=180.0,
                sample_rate=44100,
                channels=2,
                size_bytes=30_000_000,
                sha256="0" * 64,
            )
            for i in range(projects)
        ),
        batch_size=2000,
    )
    statuses = ["succeeded", "failed", "running", "queued"]
    SeparationJob.objects.bulk_create(
        (
            SeparationJob(project_id=pk, stem_set="foreground_background", status=statuses[n % 4])
            for n, pk in enumerate(Project.objects.filter(team=team).values_list("pk", flat=True))
        ),
        batch_size=2000,
    )
    return user, made[57]


def timed(client: Client, url: str, repeat: int) -> list[float]:
    client.get(url)  # warm caches, templates, connections
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with throwaway_database() as vendor:
        started = time.perf_counter()
        user, folder = fill(args.projects, args.folders)
        print(
            f"database: {vendor}; filled {args.projects} projects in "
            f"{args.folders} folders in {time.perf_counter() - started:.1f} s\n"
        )
        client = Client()
        client.force_login(user)
        pages = {
            "dashboard": reverse("dashboard"),
            "folder page": reverse("folder_detail", args=[folder.public_id]),
            "search": reverse("dashboard") + "?q=Take+0123",
        }
        print("| page | median (ms) | p95 (ms) | target |")
        print("|---|---|---|---|")
        for name, url in pages.items():
            times = timed(client, url, args.repeat)
            p95 = statistics.quantiles(times, n=20)[-1]
            median = statistics.median(times)
            verdict = "ok" if median < 100 else "MISSED"
            print(f"| {name} | {median:.1f} | {p95:.1f} | < 100 ms median: {verdict} |")


if __name__ == "__main__":
    main()
