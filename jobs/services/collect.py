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

from audio.analysis import UnreadableStem, measure_stems, peaks_json
from audio.probe import AudioInfo
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
        store_stems(job, files, mixture=origin, new_source=True)
    elif job.project.source:
        store_stems(job, files, mixture=ctx.source_path())
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


def store_stems(
    job: SeparationJob,
    files: list[StemFile],
    *,
    mixture: Path | None = None,
    new_source: bool = False,
) -> None:
    """Decode-check each stem, measure it, copy it into storage, and mark the job succeeded,
    all or none.

    The stems and ``mixture`` are decoded once, side by side: the check, loudness, peaks and
    the residual against ``mixture`` come from that one pass (:func:`audio.analysis.measure_stems`).
    With ``new_source``, the mixture is a platform's original track, which becomes the
    project's source (it had none).

    Raises:
        ProviderError: permanent, a stem (or the new source) is not valid audio; the message
            names it and gives ``probe``'s reason.
        JobCanceled: the job was canceled meanwhile; nothing is kept.
    """
    try:
        measured = measure_stems({f.name: f.path for f in files}, mixture)
    except UnreadableStem as exc:
        raise ProviderError(
            f"The {exc.name} stem is not valid audio: {exc}", permanent=True
        ) from None
    if new_source and measured.mixture is None:
        raise ProviderError(
            f"The original track is not valid audio: {measured.mixture_error}", permanent=True
        )
    if measured.mixture_error is not None:
        log.warning("job %s: no residual, the mixture failed: %s", job.pk, measured.mixture_error)
    saved: list[str] = []
    try:
        with transaction.atomic():
            if new_source:
                assert mixture is not None and measured.mixture is not None  # checked above
                saved.append(_attach_origin(job.project, mixture, measured.mixture))
            for stem_file in files:
                info = measured.stems[stem_file.name].info
                analysis = measured.stems[stem_file.name].analysis
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
                status=Status.SUCCEEDED,
                progress=1.0,
                finished=timezone.now(),
                residual_db=measured.residual_db,
            )
            if not finished:
                raise JobCanceled(str(job.pk))
            job_ended(job)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def _attach_origin(project: Project, path: Path, info: AudioInfo) -> str:
    """Store a platform track's mixture, decode-checked as ``info``, as the project's source;
    returns its storage name."""
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
