"""The rows the served benchmarks (``poll.py``, ``upload.py``) make through stemweb's services
and read back, and signed-in browsers' session keys. Import it only once Django is set up
(``served.setup_django``): it imports the models."""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.services import team_ensure_personal
from jobs.models import SeparationJob
from library.models import Project


def member(email: str) -> User:
    """A user with their personal team."""
    user = User.objects.create_user(email=email, password=None)
    team_ensure_personal(user=user)
    return user


def session_keys(user: User, count: int) -> list[str]:
    """``count`` signed-in sessions of ``user`` (real session rows): one per browser."""
    keys = []
    for _ in range(count):
        browser = Client()
        browser.force_login(user)
        keys.append(browser.cookies[settings.SESSION_COOKIE_NAME].value)
    return keys


def running_job(user: User) -> SeparationJob:
    """A running job, 42 % done, on a 3-minute project of the user's personal team."""
    project = Project.objects.create(
        team=team_ensure_personal(user=user), created_by=user, name="Polled take",
        source="x/take.flac", container="FLAC", codec="PCM_16", duration_s=180.0,
        sample_rate=44100, channels=2, size_bytes=30_000_000, sha256="0" * 64,
    )  # fmt: skip
    return SeparationJob.objects.create(
        project=project, created_by=user, stem_set="foreground_background",
        status=SeparationJob.Status.RUNNING, progress=0.42, started=timezone.now(),
    )  # fmt: skip


def job(job_id: str) -> SeparationJob:
    """The job ``job_id`` with its project."""
    return SeparationJob.objects.select_related("project").get(pk=job_id)
