"""Projects and jobs made through the real services, from real recordings."""

from __future__ import annotations

from pathlib import Path

from accounts.models import Membership, User
from audio.probe import probe
from jobs.models import SeparationJob
from jobs.services import job_create
from library.models import Project
from library.services import project_create
from providers.stemsets import StemSet


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


def make_finished_job(
    user: User,
    source: Path,
    stem_set: str,
    workdir: Path,
    name: str = "Song",
    provider: str = "finevoice",
    project=None,  # type: ignore[no-untyped-def]
) -> SeparationJob:
    """A succeeded job whose stems are real audio summing to ``source``, stored and measured the
    way a provider's are (the sandbox's splitter makes them)."""
    from jobs.services import StemFile, store_stems
    from providers.sandboxing.stems import split

    job = SeparationJob.objects.create(
        project=project or make_project(user, source, name),
        provider=provider,
        stem_set=stem_set,
        status=SeparationJob.Status.RUNNING,
        created_by=user,
    )
    names = StemSet(stem_set).stem_names
    paths = split(source, names, workdir)
    store_stems(job, [StemFile(n, paths[n]) for n in names], mixture=source)
    return SeparationJob.objects.get(pk=job.pk)
