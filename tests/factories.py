"""Projects and jobs made through the real services, from real recordings."""

from __future__ import annotations

from pathlib import Path

from accounts.models import Membership, User
from jobs.audio import probe
from jobs.models import Project, SeparationJob, StemSet
from jobs.services import job_create, project_create


def make_project(user: User, source: Path, name: str = "Song") -> Project:
    team = Membership.objects.filter(user=user).select_related("team").first().team
    return project_create(
        team=team,
        user=user,
        upload_path=source,
        original_filename=source.name,
        info=probe(source),
        name=name,
    )


def make_job(
    user: User, source: Path, stem_set: str = StemSet.FOREGROUND_BACKGROUND, name: str = "Song"
) -> SeparationJob:
    return job_create(
        project=make_project(user, source, name), user=user, provider_key="local", stem_set=stem_set
    )
