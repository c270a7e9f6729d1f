"""Taking a request for stems: checks (provider, stem set, source, quota), then the rows.

Nothing is stored or queued for a request that fails a check.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import Team, User
from audio.probe import AudioInfo
from jobs.models import SeparationJob
from jobs.selectors import provider_is_configured
from jobs.services.peaks import source_peaks_request
from jobs.services.run import job_enqueue
from library.models import Folder, Project
from library.services import project_create
from providers.base import Provider
from providers.registry import get_provider
from providers.stemsets import StemSet

Status = SeparationJob.Status


class JobRequestError(ValueError):
    """A job that cannot be created as asked. ``str(error)`` is shown to the user."""


def project_upload(
    *,
    team: Team,
    user: User,
    upload_path: Path,
    original_filename: str,
    info: AudioInfo,
    name: str,
    description: str,
    provider_key: str,
    stem_set: str,
    folder: Folder | None = None,
) -> SeparationJob:
    """Store an accepted upload as a project (in ``folder``, None: the top level) and queue its
    first job, all or nothing.

    Raises:
        JobRequestError: before anything is stored, when the job cannot be run as asked.
    """
    job_check_request(provider_key=provider_key, stem_set=stem_set, team=team, info=info)
    stored: str | None = None
    try:
        with transaction.atomic():
            project = project_create(
                team=team,
                user=user,
                upload_path=upload_path,
                original_filename=original_filename,
                info=info,
                name=name,
                description=description,
                folder=folder,
            )
            stored = project.source.name
            source_peaks_request(project)  # queued before the job: a waveform takes seconds
            return job_create(
                project=project, user=user, provider_key=provider_key, stem_set=stem_set
            )
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise


def project_from_platform(
    *,
    team: Team,
    user: User,
    name: str,
    description: str,
    task_id: str,
    audio_id: str,
    provider_key: str,
    stem_set: str,
    folder: Folder | None = None,
) -> SeparationJob:
    """A project (in ``folder``) for a track already on a provider's platform, and its first
    job."""
    job_check_request(provider_key=provider_key, stem_set=stem_set, team=team)
    with transaction.atomic():
        project = Project.objects.create(
            team=team,
            folder=folder,
            name=name,
            description=description,
            created_by=user,
            platform_task_id=task_id.strip(),
            platform_audio_id=audio_id.strip(),
        )
        return job_create(project=project, user=user, provider_key=provider_key, stem_set=stem_set)


UNIT_LABELS = {"stem_seconds": "stem-seconds", "credits": "credits"}


def job_check_request(
    *,
    provider_key: str,
    stem_set: str,
    team: Team,
    project: Project | None = None,
    info: AudioInfo | None = None,
) -> tuple[float, str]:
    """Check that a job can be created, before anything is stored or queued.

    Returns the job's (cost, unit). Raises JobRequestError for an unknown or unconfigured
    provider, a stem set it does not offer, a source it cannot take, or a job that would pass
    the team's monthly quota.
    """
    try:
        provider = get_provider(provider_key)
    except KeyError:
        raise JobRequestError(f"Unknown provider {provider_key!r}.") from None
    if not provider_is_configured(provider, team):
        raise JobRequestError(f"{provider.label} is not configured for this team.")
    if stem_set not in provider.stem_sets:
        label = StemSet(stem_set).label if stem_set in StemSet.values else stem_set
        raise JobRequestError(f"{provider.label} does not offer {label}.")
    if refusal := source_refusal(provider, project=project, info=info):
        raise JobRequestError(refusal)
    duration = project.duration_s if project is not None else (info.duration_s if info else None)
    cost, unit = provider.cost(duration_s=duration, stem_set=stem_set)
    quota = team.quota_credits if unit == "credits" else team.quota_stem_seconds
    if quota is not None:
        used = team_usage(team=team).get(unit, 0.0)
        if used + cost > quota:
            label = UNIT_LABELS[unit]
            raise JobRequestError(
                f"This job needs {cost:,.0f} {label}, but only {max(quota - used, 0):,.0f} of "
                f"the team's {quota:,.0f} monthly {label} are left."
            )
    return cost, unit


def source_refusal(
    provider: Provider, *, project: Project | None = None, info: AudioInfo | None = None
) -> str | None:
    """Why ``provider`` cannot take this source (a project's, or an upload's ``info``), or
    None: a container it does not accept, no uploaded recording for a provider that needs
    one, or one that is not on the platform of a provider that works on platform tracks."""
    container = project.container if project is not None else (info.container if info else "")
    if provider.containers and container and container not in provider.containers:
        accepted = ", ".join(sorted(provider.containers))
        return f"{provider.label} accepts {accepted}; this recording is {container}."
    if project is not None:
        if provider.needs_upload and not project.source:
            return f"{provider.label} needs an uploaded recording."
        if not provider.needs_upload and not project.is_platform_track:
            return f"{provider.label} works on tracks already on its platform."
    return None


def month_start() -> datetime:
    now = timezone.localtime()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def team_usage(*, team: Team, since: datetime | None = None) -> dict[str, float]:
    """Cost of the team's jobs since ``since`` (default: this month), per unit.

    Failed, timed-out and canceled jobs do not count.
    """
    rows = (
        SeparationJob.objects.filter(project__team=team, created__gte=since or month_start())
        .exclude(status__in=[Status.FAILED, Status.TIMED_OUT, Status.CANCELED])
        .values("cost_unit")
        .annotate(total=Sum("cost"))
    )
    return {row["cost_unit"]: row["total"] or 0.0 for row in rows}


def job_create(
    *, project: Project, user: User | None, provider_key: str, stem_set: str
) -> SeparationJob:
    """Create a queued job and enqueue it once the surrounding transaction commits.

    Raises:
        JobRequestError: see ``job_check_request``.
    """
    cost, unit = job_check_request(
        provider_key=provider_key, stem_set=stem_set, team=project.team, project=project
    )
    job = SeparationJob.objects.create(
        project=project,
        provider=provider_key,
        stem_set=stem_set,
        created_by=user,
        cost=cost,
        cost_unit=unit,
    )
    transaction.on_commit(partial(job_enqueue, job=job), robust=True)
    return job


def projects_separate(
    *, projects: QuerySet[Project], user: User, provider_key: str, stem_set: str
) -> list[SeparationJob]:
    """Queue a job on each project with the same provider and stem set, all or none.

    Raises JobRequestError naming the first project that cannot take it (quota included: the
    jobs are checked one after another, so their costs add up).
    """
    jobs = []
    with transaction.atomic():
        for project in projects.select_related("team"):
            try:
                jobs.append(
                    job_create(
                        project=project, user=user, provider_key=provider_key, stem_set=stem_set
                    )
                )
            except JobRequestError as exc:
                raise JobRequestError(f"“{project.name}”: {exc}") from None
    return jobs
