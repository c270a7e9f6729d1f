"""The faults' laboratory: the world, a team, recordings, jobs made through the real services,
and the waits the faults share. Imported after ``django.setup()``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from accounts.models import Membership, User
from accounts.services import team_ensure_personal
from audio.probe import probe
from downloads.models import Rendition
from jobs.models import SeparationJob
from jobs.services import job_create
from library.services import project_create
from providers.stemsets import StemSet
from tests.faults.measure import Outcome, now
from tests.faults.world import World

Status = SeparationJob.Status
TIMEOUT_S = 240.0  # per fault, for every affected job to end


class Lab:
    """The world plus a team, recordings, and the waits the faults share."""

    def __init__(self, world: World, *, quick: bool) -> None:
        self.world = world
        self.quick = quick
        self.team = self._team("faults@example.com")
        self.long = world.long_mixture()
        self.short = world.dev_mixtures()
        self._made = 0

    def _team(self, email: str):  # type: ignore[no-untyped-def]
        user = User.objects.create_user(email=email, password="a-long-passphrase-42")
        team_ensure_personal(user=user)
        return Membership.objects.get(user=user).team

    def job(self, provider: str, source: Path, team=None) -> str:  # type: ignore[no-untyped-def]
        """A project from ``source`` and a queued job on it, through the services."""
        team = team or self.team
        user = team.memberships.first().user
        self._made += 1
        project = project_create(
            team=team,
            user=user,
            upload_path=source,
            original_filename=source.name,
            info=probe(source),
            name=f"fault {self._made}",
        )
        job = job_create(
            project=project,
            user=user,
            provider_key=provider,
            stem_set=StemSet.FOREGROUND_BACKGROUND,
        )
        return str(job.pk)

    def row(self, pk: str) -> SeparationJob:
        return SeparationJob.objects.get(pk=pk)

    def wait_job(
        self, pk: str, condition: Callable[[SeparationJob], bool], what: str, timeout_s=120.0
    ) -> SeparationJob:
        def check() -> SeparationJob | None:
            job = self.row(pk)
            if job.is_terminal and not condition(job):
                raise RuntimeError(f"job {pk} ended {job.status} ({job.error}) before {what}")
            return job if condition(job) else None

        return self.world.wait(check, timeout_s, what)

    def waiting_on_provider(self, pk: str) -> SeparationJob:
        return self.wait_job(
            pk,
            lambda j: (
                j.status == Status.RUNNING
                and bool(j.provider_task_id)
                and j.next_check_at is not None
            ),
            "a CAMB.AI job submitted and waiting on its provider",
        )

    def running(self, pk: str, progress: float) -> SeparationJob:
        return self.wait_job(
            pk,
            lambda j: j.status == Status.RUNNING and j.progress > progress,
            f"a local job past {progress:.0%}",
        )

    def wait_done(self, outcome: Outcome, timeout_s: float = TIMEOUT_S) -> None:
        """Until every affected job is terminal and every rendition ready or failed."""

        def done() -> bool:
            jobs = SeparationJob.objects.filter(pk__in=outcome.jobs)
            if any(not job.is_terminal for job in jobs):
                return False
            pending = Rendition.objects.filter(
                pk__in=outcome.renditions, state=Rendition.State.PENDING
            )
            return not pending.exists()

        self.world.wait(done, timeout_s, f"the jobs of '{outcome.name}' to end")
        if outcome.renditions:
            outcome.done_at = now()

    def sandbox_tasks(self) -> int:
        return len(self.world.sandbox.tasks)

    @contextmanager
    def provider_busy(self) -> Iterator[threading.Event]:
        """The sandbox's two work threads occupied: its tasks stay PENDING until released (a
        provider that takes its time), whatever happens to the faults' own code."""
        release = threading.Event()
        for _ in range(self.world.sandbox.pool._max_workers):
            self.world.sandbox.pool.submit(release.wait, 600)
        try:
            yield release
        finally:
            release.set()

    def sleep(self, seconds: float) -> None:
        """Wait while supervising the children."""
        end = time.monotonic() + seconds
        self.world.wait(lambda: time.monotonic() >= end, seconds + 5, "time to pass", 0.5)


def restarts(world: World, before: dict[str, int]) -> list[str]:
    """What the harness, as a process supervisor, had to start again during the fault."""
    counts = []
    for name, child in world.children.items():
        if extra := len(child.exits) - before.get(name, 0):
            codes = sorted(set(child.exits[-extra:]))
            counts.append(f"{name} {extra}x (exit {', '.join(map(str, codes))})")
    return (
        [f"exited by themselves, restarted by the harness: {', '.join(counts)}"] if counts else []
    )


def exits(world: World) -> dict[str, int]:
    return {name: len(child.exits) for name, child in world.children.items()}


def terminate_connections() -> int:
    """pg_terminate_backend on every connection to the database but the harness's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0
