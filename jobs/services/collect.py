"""Collecting a finished job's stems: download (guarded), decode-check, measure, store, once.

A row only points at files that exist, and a file is only kept when its row is committed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audio.analysis import StemAnalysis, analyze_stem, peaks_json, residual_db
from audio.probe import AudioError, AudioInfo, probe
from jobs.models import SeparationJob, Stem, job_storage_prefix
from jobs.services.ending import job_ended
from jobs.services.peaks import source_peaks_request
from library.models import Project
from providers.base import JobCanceled, Provider, ProviderError, RunContext
from stemweb.lib import netguard
from stemweb.lib.storage import delete_tree, saved_name

log = logging.getLogger(__name__)
Status = SeparationJob.Status


def collect(job: SeparationJob, provider: Provider, ctx: RunContext) -> None:
    """Fetch the finished stems into storage and mark the job succeeded, once.

    The caller holds the job's lease (:mod:`jobs.services.lease`), so no other worker collects
    it meanwhile; files a collector killed mid-way left in the job's folder are removed first.
    """
    leftovers = delete_tree(default_storage, job_storage_prefix(job))
    if leftovers:
        log.warning("job %s: removed %d files of an interrupted collection", job.pk, leftovers)
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
    if origin is not None:
        store_stems(job, files, origin, mixture=origin)
    elif job.project.source:
        # Decoded whole when it was checked (at upload, or before submission when longer): its
        # stored facts are what the engine read it with, so it need not be decoded again here.
        source = ctx.source_path()
        store_stems(job, files, mixture=source, mixture_info=job.project.audio_info())
    else:
        store_stems(job, files)


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
    checked: list[tuple[StemFile, AudioInfo]],
    mixture: Path | None,
    mixture_info: AudioInfo | None,
) -> tuple[dict[str, StemAnalysis], float | None]:
    """Loudness, peaks and the residual; a measurement that fails never fails the job."""
    analyses: dict[str, StemAnalysis] = {}
    residual = None
    try:
        for stem_file, info in checked:
            analyses[stem_file.name] = analyze_stem(stem_file.path, info)
        if mixture is not None:
            read_as = mixture_info or probe(mixture)
            residual = residual_db(mixture, read_as, [f.path for f, _ in checked])
    except Exception:
        log.warning("measuring stems failed", exc_info=True)
    return analyses, residual


def store_stems(
    job: SeparationJob,
    files: list[StemFile],
    origin: Path | None = None,
    *,
    mixture: Path | None = None,
    mixture_info: AudioInfo | None = None,
) -> None:
    """Decode-check each stem, measure it, copy it into storage, and mark the job succeeded,
    all or none.

    ``origin``, when given, becomes the project's source (a platform track had none);
    ``mixture`` is what the residual is measured against, read as ``mixture_info`` says
    (probed when not given).
    """
    checked: list[tuple[StemFile, AudioInfo]] = []
    for stem_file in files:
        try:
            checked.append((stem_file, probe(stem_file.path)))
        except AudioError as exc:
            raise ProviderError(
                f"The {stem_file.name} stem is not valid audio: {exc}", permanent=True
            ) from None
    analyses, residual = _measure(checked, mixture, mixture_info)
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
                saved.append(saved_name(stem.file))
                if analysis is not None:
                    peaks = peaks_json(analysis.peaks, info.duration_s)
                    stem.peaks_file.save(
                        f"{stem_file.name}.peaks.json", ContentFile(peaks), save=False
                    )
                    saved.append(saved_name(stem.peaks_file))
                stem.save()
            finished = SeparationJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
                status=Status.SUCCEEDED, progress=1.0, finished=timezone.now(), residual_db=residual
            )
            if not finished:
                raise JobCanceled(str(job.pk))
            job_ended(job)
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
    source_peaks_request(project)
    return saved_name(project.source)
