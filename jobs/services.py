"""Multi-step writes with side effects on projects and jobs (HackSoft-style services).

Storage and database stay consistent: a file is only kept when its row is committed, and a row
only points at files that exist.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import django_rq
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from accounts.models import Team, User
from jobs.audio import AudioError, AudioInfo, probe
from jobs.models import Folder, Project, SeparationJob, Stem, StemSet
from jobs.providers import get_provider
from jobs.providers.base import JobCanceled, ProviderError, RunContext, StemFile

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
    job_check_request(provider_key=provider_key, stem_set=stem_set)
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


def job_check_request(*, provider_key: str, stem_set: str) -> None:
    """Raise JobRequestError for an unknown or unconfigured provider, or a stem set it does
    not offer."""
    try:
        provider = get_provider(provider_key)
    except KeyError:
        raise JobRequestError(f"Unknown provider {provider_key!r}.") from None
    if not provider.is_configured():
        raise JobRequestError(f"{provider.label} is not configured on this server.")
    if stem_set not in provider.stem_sets:
        label = StemSet(stem_set).label if stem_set in StemSet.values else stem_set
        raise JobRequestError(f"{provider.label} does not offer {label}.")


def job_create(
    *, project: Project, user: User | None, provider_key: str, stem_set: str
) -> SeparationJob:
    """Create a queued job and enqueue it once the surrounding transaction commits.

    Raises:
        JobRequestError: see ``job_check_request``.
    """
    job_check_request(provider_key=provider_key, stem_set=stem_set)
    job = SeparationJob.objects.create(
        project=project, provider=provider_key, stem_set=stem_set, created_by=user
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
    """Do one attempt of a job: claim it, let its provider separate, store the stems.

    A duplicate delivery finds the job no longer queued and does nothing. Any error ends the
    job ``failed`` with a reason a user can read; it is never left ``running``.
    """
    now = timezone.now()
    claimed = SeparationJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started=now, heartbeat=now, progress=0.0, error=""
    )
    if not claimed:
        log.info("job %s is not queued any more; nothing to do", job_id)
        return
    job = SeparationJob.objects.select_related("project__team").get(pk=job_id)
    provider = get_provider(job.provider)

    def progress(fraction: float) -> None:
        if not job.report_progress(fraction):
            raise JobCanceled(job_id)

    try:
        with tempfile.TemporaryDirectory(prefix="stemweb-job-") as tmp:
            ctx = RunContext(
                job=job,
                source=_fetch_source(job.project, Path(tmp)),
                workdir=Path(tmp) / "out",
                progress=progress,
            )
            submission = provider.submit(ctx)
            SeparationJob.objects.filter(pk=job.pk).update(provider_task_id=submission.task_id)
            if not (submission.done or provider.poll(ctx)):
                raise ProviderError("The provider has not finished the task.", permanent=False)
            _store_stems(job, provider.result(ctx))
    except JobCanceled:
        log.info("job %s was canceled while running", job_id)
    except ProviderError as exc:
        job.mark_failed(str(exc))
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        job.mark_failed(f"Separation crashed: {type(exc).__name__}: {exc}")


def _fetch_source(project: Project, directory: Path) -> Path:
    """Copy the stored source into ``directory`` (storage may be remote, e.g. S3)."""
    target = directory / f"source.{project.audio_info().extension}"
    with project.source.open("rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1024 * 1024)
    return target


def _store_stems(job: SeparationJob, files: list[StemFile]) -> None:
    """Decode-check each stem, copy it into storage, and mark the job succeeded, all or none."""
    checked: list[tuple[StemFile, AudioInfo]] = []
    for stem_file in files:
        try:
            checked.append((stem_file, probe(stem_file.path)))
        except AudioError as exc:
            raise ProviderError(
                f"The {stem_file.name} stem is not valid audio: {exc}", permanent=True
            ) from None
    saved: list[str] = []
    try:
        with transaction.atomic():
            for stem_file, info in checked:
                stem = Stem(
                    job=job,
                    name=stem_file.name,
                    format=info.extension,
                    duration_s=info.duration_s,
                    sample_rate=info.sample_rate,
                    channels=info.channels,
                    size_bytes=stem_file.path.stat().st_size,
                )
                with open(stem_file.path, "rb") as fh:
                    stem.file.save(f"{stem_file.name}.{info.extension}", File(fh), save=False)
                saved.append(stem.file.name)
                stem.save()
            finished = SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
                status=Status.SUCCEEDED, progress=1.0, finished=timezone.now()
            )
            if not finished:
                raise JobCanceled(str(job.pk))
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


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
            failed += job.mark_failed(
                f"The worker stopped responding {MAX_ATTEMPTS} times while running this job."
            )
            continue
        requeued += SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            status=Status.QUEUED, attempts=F("attempts") + 1, progress=0.0
        )
    for job in SeparationJob.objects.filter(status=Status.QUEUED):
        enqueued += job_enqueue(job=job)
    return Recovery(requeued=requeued, failed=failed, enqueued=enqueued)
