"""Multi-step writes with side effects on projects and jobs (HackSoft-style services).

Storage and database stay consistent: a file is only kept when its row is committed, and a row
only points at files that exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import django_rq
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from accounts.models import Team, User
from audio.probe import AudioError, AudioInfo, probe
from jobs.analysis import StemAnalysis, analyze_stem, residual_db
from jobs.models import Folder, Project, SeparationJob, Stem, StemSet
from jobs.providers import get_provider
from jobs.providers.base import JobCanceled, PollState, Provider, ProviderError, RunContext
from stemweb.lib import netguard

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
Status = SeparationJob.Status


class JobRequestError(ValueError):
    """A job that cannot be created as asked. ``str(error)`` is shown to the user."""


def project_create(
    *,
    team: Team,
    user: User,
    upload_path: Path,
    original_filename: str,
    info: AudioInfo,
    name: str,
    description: str = "",
    folder: Folder | None = None,
) -> Project:
    """Store an uploaded mixture that ``probe`` accepted, and its project row.

    The file is copied from ``upload_path`` (a temporary file) into storage in chunks. When the
    row cannot be written, the stored file is deleted again.
    """
    with open(upload_path, "rb") as fh:
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    project = Project(
        team=team,
        folder=folder,
        name=name,
        description=description,
        created_by=user,
        original_filename=original_filename[:255],
        container=info.container,
        codec=info.codec,
        duration_s=info.duration_s,
        sample_rate=info.sample_rate,
        channels=info.channels,
        size_bytes=upload_path.stat().st_size,
        sha256=sha256,
    )
    with open(upload_path, "rb") as fh:
        project.source.save(f"source.{info.extension}", File(fh), save=False)
    try:
        with transaction.atomic():
            project.save()
    except BaseException:
        default_storage.delete(project.source.name)
        raise
    return project


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
) -> SeparationJob:
    """Store an accepted upload as a project and queue its first job, all or nothing.

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
            )
            stored = project.source.name
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
) -> SeparationJob:
    """A project for a track already on a provider's platform, and its first job."""
    job_check_request(provider_key=provider_key, stem_set=stem_set, team=team)
    with transaction.atomic():
        project = Project.objects.create(
            team=team,
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
    if not provider.is_configured(team):
        raise JobRequestError(f"{provider.label} is not configured for this team.")
    if stem_set not in provider.stem_sets:
        label = StemSet(stem_set).label if stem_set in StemSet.values else stem_set
        raise JobRequestError(f"{provider.label} does not offer {label}.")
    container = project.container if project is not None else (info.container if info else "")
    if provider.containers and container and container not in provider.containers:
        accepted = ", ".join(sorted(provider.containers))
        raise JobRequestError(
            f"{provider.label} accepts {accepted}; this recording is {container}."
        )
    if project is not None:
        if provider.needs_upload and not project.source:
            raise JobRequestError(f"{provider.label} needs an uploaded recording.")
        if not provider.needs_upload and not project.is_platform_track:
            raise JobRequestError(f"{provider.label} works on tracks already on its platform.")
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


def _rq_job_id(job: SeparationJob) -> str:
    return f"separate-{job.pk}-{job.attempts}"


def job_enqueue(*, job: SeparationJob) -> bool:
    """Put a queued job on its provider's RQ queue, unless RQ already holds it.

    Returns True when it was enqueued now. The RQ job id is derived from the job and its
    attempt, so enqueueing twice never runs an attempt twice.
    """
    from jobs.tasks import run_job

    queue = django_rq.get_queue(get_provider(job.provider).queue)
    rq_id = _rq_job_id(job)
    try:
        status = RQJob.fetch(rq_id, connection=queue.connection).get_status()
    except NoSuchJobError:
        status = None
    if status in {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}:
        return False
    queue.enqueue(run_job, str(job.pk), job_id=rq_id, result_ttl=3600, failure_ttl=7 * 86400)
    return True


def job_run(*, job_id: str) -> None:
    """First delivery of a job: claim it and take its first step.

    A duplicate delivery finds the job no longer queued and does nothing.
    """
    job = SeparationJob.objects.filter(pk=job_id).select_related("project__team").first()
    if job is None:
        return
    provider = get_provider(job.provider)
    now = timezone.now()
    deadline = now + timedelta(seconds=provider.deadline_s) if provider.deadline_s else None
    claimed = SeparationJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        started=now,
        heartbeat=now,
        progress=0.0,
        error="",
        deadline=deadline,
    )
    if not claimed:
        log.info("job %s is not queued any more; nothing to do", job_id)
        return
    job.refresh_from_db()
    _step(job, provider)


def job_check(*, job_id: str) -> None:
    """A scheduled (or callback-triggered) check of a running job: poll, collect, or wait."""
    job = SeparationJob.objects.filter(pk=job_id).select_related("project__team").first()
    if job is None or job.status != Status.RUNNING:
        return
    SeparationJob.objects.filter(pk=job.pk).update(heartbeat=timezone.now())
    _step(job, get_provider(job.provider))


def _step(job: SeparationJob, provider: Provider) -> None:
    """Move a running job one step: submit if not yet submitted, else poll; collect when done.

    Every outcome leaves the job terminal or with its next check scheduled; an error never
    leaves it running without one.
    """

    def progress(fraction: float) -> None:
        if not job.report_progress(fraction):
            raise JobCanceled(str(job.pk))

    try:
        if job.deadline and timezone.now() > job.deadline:
            minutes = (job.deadline - job.started).total_seconds() / 60
            job_fail(
                job,
                f"{provider.label} did not finish within {minutes:.0f} minutes.",
                status=Status.TIMED_OUT,
            )
            return
        with tempfile.TemporaryDirectory(prefix="stemweb-job-") as tmp:
            ctx = RunContext(job=job, workdir=Path(tmp), progress=progress)
            if not job.provider_task_id:
                submission = provider.submit(ctx)
                # Stored before anything else can fail: a retry polls instead of paying again.
                job.provider_task_id = submission.task_id
                SeparationJob.objects.filter(pk=job.pk).update(
                    provider_task_id=submission.task_id, transient_errors=0
                )
                if submission.done:
                    _collect(job, provider, ctx)
                else:
                    _schedule_check(job, provider.poll_interval_s)
                return
            poll = provider.poll(ctx)
            SeparationJob.objects.filter(pk=job.pk).update(
                checks=F("checks") + 1, transient_errors=0
            )
            if poll.state is PollState.PENDING:
                _schedule_check(job, _poll_delay(provider, job.checks + 1))
            elif poll.state is PollState.FAILED:
                job_fail(job, poll.reason or f"{provider.label} reported a failure.")
            elif poll.state is PollState.TIMED_OUT:
                job_fail(
                    job, poll.reason or f"{provider.label} timed out.", status=Status.TIMED_OUT
                )
            else:
                _collect(job, provider, ctx)
    except JobCanceled:
        log.info("job %s was canceled while running", job.pk)
    except ProviderError as exc:
        _provider_error(job, exc)
    except Exception as exc:
        log.exception("job %s crashed", job.pk)
        job_fail(job, f"Separation crashed: {type(exc).__name__}: {exc}")


def job_fail(job: SeparationJob, reason: str, status: str = Status.FAILED) -> bool:
    """End a job that is not over yet with ``reason``; tells the team's webhook. Returns
    False when the job had already ended."""
    ended = job.mark_failed(reason, status=status)
    if ended:
        _job_ended(job)
    return ended


def _job_ended(job: SeparationJob) -> None:
    """Tell the team's webhook, unless the stems wait for staff review (sent on approval)."""
    from jobs.webhooks import webhook_enqueue

    job.refresh_from_db(fields=["status", "review_state"])
    if job.is_held:
        return
    transaction.on_commit(partial(webhook_enqueue, job_id=str(job.pk)), robust=True)


def _provider_error(job: SeparationJob, exc: ProviderError) -> None:
    """Fail the job on a permanent error; retry a transient one later, a bounded number."""
    SeparationJob.objects.filter(pk=job.pk).update(collecting=False)
    if exc.permanent:
        job_fail(job, str(exc))
        return
    failures = job.transient_errors + 1
    limit = settings.STEMWEB_RETRY_LIMIT
    if failures > limit:
        job_fail(job, f"{exc} Gave up after {limit} retries.")
        return
    SeparationJob.objects.filter(pk=job.pk).update(transient_errors=failures)
    base = settings.STEMWEB_RETRY_BASE_S * 2 ** (failures - 1)
    delay = max(exc.retry_after or 0.0, base * random.uniform(0.8, 1.2))  # noqa: S311
    log.info("job %s: %s; retry %d/%d in %.1f s", job.pk, exc, failures, limit, delay)
    _schedule_check(job, delay)


def _poll_delay(provider: Provider, checks: int) -> float:
    """The provider's poll interval, doubled after every 10 checks, at most 8 times over."""
    return provider.poll_interval_s * min(2 ** (checks // 10), 8)


def _schedule_check(job: SeparationJob, delay_s: float) -> None:
    from jobs.tasks import check_job

    queue = django_rq.get_queue("default")
    queue.enqueue_in(timedelta(seconds=delay_s), check_job, str(job.pk), failure_ttl=7 * 86400)


def job_check_now(*, job: SeparationJob) -> None:
    """Check a running job as soon as a worker is free (e.g. its callback just came in)."""
    from jobs.tasks import check_job

    django_rq.get_queue("default").enqueue(check_job, str(job.pk), failure_ttl=7 * 86400)


def _collect(job: SeparationJob, provider: Provider, ctx: RunContext) -> None:
    """Fetch the finished stems into storage and mark the job succeeded, once.

    The ``collecting`` claim keeps a callback and a poll from downloading the same stems.
    """
    claimed = SeparationJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, collecting=False
    ).update(collecting=True)
    if not claimed:
        return
    result = provider.result(ctx)
    files: list[StemFile] = []
    for name in job.stem_names:
        where = result.stems.get(name)
        if where is None:
            raise ProviderError(f"{provider.label} returned no {name} stem.", permanent=True)
        if isinstance(where, Path):
            files.append(StemFile(name, where))
        else:
            files.append(StemFile(name, _download(job, provider, where, ctx.workdir / name)))
    origin = None
    if result.origin and not job.project.source:
        origin = _download(job, provider, result.origin, ctx.workdir / "origin")
    mixture = origin or (ctx.source_path() if job.project.source else None)
    _store_stems(job, files, origin, mixture=mixture)


def _download(job: SeparationJob, provider: Provider, url: str, target: Path) -> Path:
    try:
        netguard.download(
            url,
            target,
            max_bytes=settings.STEMWEB_FETCH_MAX_MB * 1024 * 1024,
            timeout_s=settings.STEMWEB_FETCH_TIMEOUT_S,
            allow_hosts=settings.STEMWEB_FETCH_ALLOW_HOSTS,
        )
    except netguard.BlockedURL as exc:
        raise ProviderError(
            f"{provider.label}'s result link was refused: {exc}.", permanent=True
        ) from None
    except netguard.DownloadError as exc:
        raise ProviderError(
            f"Could not download {provider.label}'s result: {exc}.", permanent=exc.permanent
        ) from None
    return target


@dataclass(frozen=True)
class StemFile:
    """A finished stem on local disk, before it is copied into stemweb's storage."""

    name: str
    path: Path


def _measure(
    checked: list[tuple[StemFile, AudioInfo]], mixture: Path | None
) -> tuple[dict[str, StemAnalysis], float | None]:
    """Loudness, peaks and the residual; a measurement that fails never fails the job."""
    analyses: dict[str, StemAnalysis] = {}
    residual = None
    try:
        for stem_file, info in checked:
            analyses[stem_file.name] = analyze_stem(stem_file.path, info)
        if mixture is not None:
            residual = residual_db(mixture, probe(mixture), [f.path for f, _ in checked])
    except Exception:
        log.warning("measuring stems failed", exc_info=True)
    return analyses, residual


def _store_stems(
    job: SeparationJob,
    files: list[StemFile],
    origin: Path | None = None,
    *,
    mixture: Path | None = None,
) -> None:
    """Decode-check each stem, measure it, copy it into storage, and mark the job succeeded,
    all or none.

    ``origin``, when given, becomes the project's source (a platform track had none);
    ``mixture`` is what the residual is measured against.
    """
    checked: list[tuple[StemFile, AudioInfo]] = []
    for stem_file in files:
        try:
            checked.append((stem_file, probe(stem_file.path)))
        except AudioError as exc:
            raise ProviderError(
                f"The {stem_file.name} stem is not valid audio: {exc}", permanent=True
            ) from None
    analyses, residual = _measure(checked, mixture)
    saved: list[str] = []
    try:
        with transaction.atomic():
            if origin is not None:
                saved.append(_attach_origin(job.project, origin))
            for stem_file, info in checked:
                analysis = analyses.get(stem_file.name)
                stem = Stem(
                    job=job,
                    name=stem_file.name,
                    format=info.extension,
                    duration_s=info.duration_s,
                    sample_rate=info.sample_rate,
                    channels=info.channels,
                    size_bytes=stem_file.path.stat().st_size,
                    lufs=analysis.lufs if analysis else None,
                    peak_dbfs=analysis.peak_dbfs if analysis else None,
                    is_silent=analysis.is_silent if analysis else False,
                )
                with open(stem_file.path, "rb") as fh:
                    stem.file.save(f"{stem_file.name}.{info.extension}", File(fh), save=False)
                saved.append(stem.file.name)
                if analysis is not None:
                    peaks = json.dumps(
                        {
                            "buckets": len(analysis.peaks),
                            "duration_s": info.duration_s,
                            "peaks": analysis.peaks,
                        },
                        separators=(",", ":"),
                    )
                    stem.peaks_file.save(
                        f"{stem_file.name}.peaks.json", ContentFile(peaks), save=False
                    )
                    saved.append(stem.peaks_file.name)
                stem.save()
            finished = SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
                status=Status.SUCCEEDED, progress=1.0, finished=timezone.now(), residual_db=residual
            )
            if not finished:
                raise JobCanceled(str(job.pk))
            _job_ended(job)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def _attach_origin(project: Project, path: Path) -> str:
    """Store a platform track's mixture as the project's source; returns its storage name."""
    try:
        info = probe(path)
    except AudioError as exc:
        raise ProviderError(
            f"The original track is not valid audio: {exc}", permanent=True
        ) from None
    with open(path, "rb") as fh:
        project.sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        fh.seek(0)
        project.source.save(f"source.{info.extension}", File(fh), save=False)
    project.container, project.codec = info.container, info.codec
    project.duration_s, project.sample_rate = info.duration_s, info.sample_rate
    project.channels, project.size_bytes = info.channels, path.stat().st_size
    project.save()
    return project.source.name


@dataclass(frozen=True)
class Recovery:
    requeued: int
    failed: int
    enqueued: int


def jobs_recover(*, stale_after: timedelta = timedelta(minutes=5)) -> Recovery:
    """Make sure no job is lost after a crash or restart of Redis or the workers.

    - A running job whose worker stopped reporting for ``stale_after`` goes back to the queue
      for another attempt, or fails after ``MAX_ATTEMPTS`` attempts.
    - A queued job that RQ does not hold (Redis restarted empty, or enqueueing failed) is
      enqueued again.
    """
    requeued = failed = enqueued = 0
    cutoff = timezone.now() - stale_after
    stale = SeparationJob.objects.filter(status=Status.RUNNING, heartbeat__lt=cutoff)
    for job in stale:
        if job.attempts + 1 >= MAX_ATTEMPTS:
            failed += job_fail(
                job, f"The worker stopped responding {MAX_ATTEMPTS} times while running this job."
            )
            continue
        requeued += SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            status=Status.QUEUED, attempts=F("attempts") + 1, progress=0.0
        )
    for job in SeparationJob.objects.filter(status=Status.QUEUED):
        enqueued += job_enqueue(job=job)
    return Recovery(requeued=requeued, failed=failed, enqueued=enqueued)


# --- Folders and projects ------------------------------------------------------------------------


class FolderError(ValueError):
    """A folder change that cannot be made. ``str(error)`` is shown to the user."""


def _check_sibling_name(
    *, team: Team, parent: Folder | None, name: str, exclude: int | None
) -> str:
    name = name.strip()
    if not name:
        raise FolderError("A folder needs a name.")
    if "/" in name:
        raise FolderError("Folder names cannot contain “/”.")
    siblings = Folder.objects.filter(team=team, parent=parent, name__iexact=name)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude)
    if siblings.exists():
        where = f"“{parent.name}”" if parent else "the top level"
        raise FolderError(f"There is already a folder named “{name}” in {where}.")
    return name[:255]


def folder_create(*, team: Team, parent: Folder | None, name: str) -> Folder:
    if parent is not None and parent.team_id != team.pk:
        raise FolderError("The parent folder belongs to another team.")
    name = _check_sibling_name(team=team, parent=parent, name=name, exclude=None)
    return Folder.objects.create(team=team, parent=parent, name=name)


def folder_rename(*, folder: Folder, name: str) -> Folder:
    folder.name = _check_sibling_name(
        team=folder.team, parent=folder.parent, name=name, exclude=folder.pk
    )
    folder.save(update_fields=["name"])
    return folder


def folder_descendant_ids(folder: Folder) -> list[int]:
    """The ids of ``folder`` and every folder below it, breadth first (one query a level)."""
    found, level = [folder.pk], [folder.pk]
    while level:
        level = list(Folder.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        found.extend(level)
    return found


def folder_move(*, folder: Folder, parent: Folder | None) -> Folder:
    """Move ``folder`` under ``parent`` (None: the top level); never into its own subtree."""
    if parent is not None:
        if parent.team_id != folder.team_id:
            raise FolderError("The target folder belongs to another team.")
        if parent.pk in folder_descendant_ids(folder):
            raise FolderError(f"“{folder.name}” cannot be moved into itself or its own subfolder.")
    folder.name = _check_sibling_name(
        team=folder.team, parent=parent, name=folder.name, exclude=folder.pk
    )
    folder.parent = parent
    folder.save(update_fields=["parent", "name"])
    return folder


@dataclass(frozen=True)
class FolderContents:
    folders: int  # subfolders, at any depth
    projects: int
    files: int  # sources and stems in storage


def folder_contents(folder: Folder) -> FolderContents:
    ids = folder_descendant_ids(folder)
    projects = Project.objects.filter(folder_id__in=ids)
    sources = projects.exclude(source="").count()
    stems = Stem.objects.filter(job__project__in=projects).count()
    return FolderContents(folders=len(ids) - 1, projects=projects.count(), files=sources + stems)


def _delete_files_on_commit(names: list[str]) -> None:
    def delete() -> None:
        for name in names:
            default_storage.delete(name)

    transaction.on_commit(delete)


def _stored_files(projects) -> list[str]:  # type: ignore[no-untyped-def]
    """Every file in storage that belongs to ``projects``: sources, stems, waveform peaks,
    format renditions and custom mixes."""
    from jobs.models import CustomMix, Rendition

    names = list(projects.values_list("source", flat=True))
    stems = Stem.objects.filter(job__project__in=projects)
    for file, peaks in stems.values_list("file", "peaks_file"):
        names += [file, peaks]
    names += Rendition.objects.filter(stem__in=stems).values_list("file", flat=True)
    names += CustomMix.objects.filter(job__project__in=projects).values_list("file", flat=True)
    return [name for name in names if name]


@transaction.atomic
def projects_delete(*, projects) -> int:  # type: ignore[no-untyped-def]
    """Delete projects with their jobs and stems; their files leave storage after commit."""
    names = _stored_files(projects)
    count = projects.count()
    projects.delete()
    _delete_files_on_commit(names)
    return count


@transaction.atomic
def folder_delete(*, folder: Folder) -> FolderContents:
    """Delete a folder, its subfolders and their projects; files leave storage after commit."""
    contents = folder_contents(folder)
    projects_delete(projects=Project.objects.filter(folder_id__in=folder_descendant_ids(folder)))
    folder.delete()
    return contents


def projects_move(*, projects, folder: Folder | None) -> int:  # type: ignore[no-untyped-def]
    """Move projects into ``folder`` (None: the top level); it must be the projects' team's."""
    if folder is not None and projects.exclude(team_id=folder.team_id).exists():
        raise FolderError("Projects can only move within their own team.")
    return projects.update(folder=folder)


def projects_separate(
    *, projects, user: User, provider_key: str, stem_set: str
) -> list[SeparationJob]:  # type: ignore[no-untyped-def]
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


# --- Staff actions and review --------------------------------------------------------------------


def _audit(
    job: SeparationJob, actor: User | None, action: str, reason: str = "", **details: object
) -> None:
    from jobs.models import AuditEntry

    AuditEntry.objects.create(job=job, actor=actor, action=action, reason=reason, details=details)


def job_approve(*, job: SeparationJob, actor: User, note: str = "") -> bool:
    """Approve a succeeded job's stems; a held job's webhook goes out now."""
    was_held = job.is_held
    updated = SeparationJob.objects.filter(pk=job.pk, status=Status.SUCCEEDED).update(
        review_state=SeparationJob.Review.APPROVED,
        review_note=note,
        reviewed_by=actor,
        reviewed_at=timezone.now(),
    )
    if updated:
        job.refresh_from_db()
        _audit(job, actor, "approve", note)
        if was_held:
            from jobs.webhooks import webhook_enqueue

            transaction.on_commit(partial(webhook_enqueue, job_id=str(job.pk)), robust=True)
    return bool(updated)


def job_flag(*, job: SeparationJob, actor: User, note: str) -> bool:
    """Flag a job's stems with a note the team sees on the job page."""
    if not note.strip():
        raise JobRequestError("Say why the job is flagged; the team sees the note.")
    updated = SeparationJob.objects.filter(pk=job.pk).update(
        review_state=SeparationJob.Review.FLAGGED,
        review_note=note.strip(),
        reviewed_by=actor,
        reviewed_at=timezone.now(),
    )
    if updated:
        job.refresh_from_db()
        _audit(job, actor, "flag", note.strip())
    return bool(updated)


def _unschedule(job: SeparationJob) -> int:
    """Remove the job's queued run and its scheduled or queued checks from RQ."""
    from rq.registry import ScheduledJobRegistry

    removed = 0
    for name in ("default", "local"):
        queue = django_rq.get_queue(name)
        registry = ScheduledJobRegistry(queue=queue)
        candidates = [queue.fetch_job(i) for i in registry.get_job_ids() + queue.get_job_ids()]
        for rq_job in candidates:
            if rq_job is None or not rq_job.args or rq_job.args[0] != str(job.pk):
                continue
            if rq_job.func_name in {"jobs.tasks.check_job", "jobs.tasks.run_job"}:
                registry.remove(rq_job)
                queue.remove(rq_job)
                rq_job.delete()
                removed += 1
    return removed


def job_cancel(*, job: SeparationJob, actor: User | None, reason: str = "") -> bool:
    """End a queued or running job ``canceled``: its queued and scheduled work leaves RQ, so its
    provider is not called again; a local engine run stops at its next progress report."""
    updated = SeparationJob.objects.filter(
        pk=job.pk, status__in=[Status.QUEUED, Status.RUNNING]
    ).update(
        status=Status.CANCELED,
        finished=timezone.now(),
        error=f"Canceled by staff{': ' + reason if reason else '.'}",
    )
    if not updated:
        return False
    job.refresh_from_db()
    removed = _unschedule(job)
    _audit(job, actor, "cancel", reason, removed_from_queue=removed)
    _job_ended(job)
    return True


def job_retry(*, job: SeparationJob, actor: User | None, reason: str = "") -> bool:
    """Queue a failed or timed-out job again. With a provider task id it resumes polling that
    task instead of submitting (and paying) again."""
    updated = SeparationJob.objects.filter(
        pk=job.pk, status__in=[Status.FAILED, Status.TIMED_OUT]
    ).update(
        status=Status.QUEUED,
        error="",
        progress=0.0,
        attempts=F("attempts") + 1,
        transient_errors=0,
        collecting=False,
        started=None,
        finished=None,
        deadline=None,
    )
    if not updated:
        return False
    job.refresh_from_db()
    _audit(job, actor, "retry", reason, resumes_task=bool(job.provider_task_id))
    transaction.on_commit(partial(job_enqueue, job=job), robust=True)
    return True


def job_rerun(
    *, job: SeparationJob, actor: User, provider_key: str, stem_set: str = "", reason: str = ""
) -> SeparationJob:
    """A new job on the same project with another provider (and stem set, if given)."""
    new = job_create(
        project=job.project,
        user=actor,
        provider_key=provider_key,
        stem_set=stem_set or job.stem_set,
    )
    _audit(job, actor, "rerun", reason, new_job=str(new.pk), provider=provider_key)
    return new


def job_delete_stems(*, job: SeparationJob, actor: User, reason: str = "") -> int:
    """Delete a job's stems, their renditions and the job's custom mixes, files included."""
    from jobs.models import CustomMix, Rendition

    stems = Stem.objects.filter(job=job)
    names = [n for pair in stems.values_list("file", "peaks_file") for n in pair]
    names += Rendition.objects.filter(stem__in=stems).values_list("file", flat=True)
    names += CustomMix.objects.filter(job=job).values_list("file", flat=True)
    with transaction.atomic():
        count = stems.count()
        stems.delete()
        CustomMix.objects.filter(job=job).delete()
        _audit(job, actor, "delete_stems", reason, stems=count)
        _delete_files_on_commit([n for n in names if n])
    return count
