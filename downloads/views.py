"""Stem downloads in any format, "download all" as a streamed zip, peaks, and custom mixes.

A format the stem is not stored in is converted once by a worker; until it exists, the link
answers with a page whose fragment polls (htmx) and turns into the download link when ready.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from zipstream import ZipStream

from accounts.access import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from accounts.models import Membership
from downloads.access import job_for_user, mix_for_user, stem_for_user
from downloads.formats import Format
from downloads.models import Rendition
from downloads.rendering import mix_create, rendition_request
from jobs.models import SeparationJob, Stem
from stemweb.lib.serving import serve_stored
from stemweb.lib.storage import iter_stored

FORMATS = set(Format.values)
ZIP_CHUNK = 256 * 1024


def _slug(job: SeparationJob) -> str:
    return slugify(job.project.name) or "project"


def _renditions(stems: list[Stem], fmt: str, retry_failed: bool) -> dict[int, Rendition | None]:
    """For each stem, its file in ``fmt``: None when the stored file already is that format."""
    return {
        s.pk: None
        if s.format == fmt
        else rendition_request(stem=s, fmt=fmt, retry_failed=retry_failed)
        for s in stems
    }


def _waiting(
    request: AuthenticatedHtmxHttpRequest,
    *,
    job: SeparationJob,
    label: str,
    pending: int,
    failed: list[str],
) -> HttpResponse:
    context = {
        "job": job,
        "label": label,
        "pending": pending,
        "failed": failed,
        "url": request.get_full_path(),
    }
    template = "downloads/download_wait.html"
    if request.htmx:
        template += "#download-wait"
    return render(request, template, context, status=202 if pending and not failed else 200)


@login_required
def stem_download(
    request: AuthenticatedHtmxHttpRequest, stem_id: str, fmt: str
) -> HttpResponseBase:
    """The stem in ``fmt`` (wav, flac, mp3), converted by a worker on first request."""
    stem = stem_for_user(request, stem_id)
    if fmt not in FORMATS:
        raise Http404("unknown format")
    filename = f"{_slug(stem.job)}-{stem.name}.{fmt}"
    if stem.format == fmt:
        return serve_stored(request, stem.file, filename=filename, as_attachment=True)
    rendition = rendition_request(stem=stem, fmt=fmt, retry_failed=not request.htmx)
    if rendition.state == Rendition.State.READY and not request.htmx:
        return serve_stored(request, rendition.file, filename=filename, as_attachment=True)
    failed = [rendition.error] if rendition.state == Rendition.State.FAILED else []
    pending = 0 if rendition.state == Rendition.State.READY else 1
    return _waiting(
        request, job=stem.job, label=f"{stem.name} as {fmt.upper()}", pending=pending, failed=failed
    )


def _manifest(job: SeparationJob, stems: list[Stem], fmt: str) -> dict[str, Any]:
    """What ``manifest.json`` in a job's zip says: project, source, provider, job, stems."""
    project = job.project
    return {
        "project": project.name,
        "source": {
            "file_name": project.original_filename,
            "sha256": project.sha256,
            "container": project.container,
            "duration_s": project.duration_s,
            "sample_rate": project.sample_rate,
            "channels": project.channels,
        },
        "provider": job.provider,
        "stem_set": job.stem_set,
        "provenance": job.provenance or None,
        "job": {
            "id": str(job.pk),
            "created": job.created.astimezone(UTC).isoformat(),
            "started": job.started.astimezone(UTC).isoformat() if job.started else None,
            "finished": job.finished.astimezone(UTC).isoformat() if job.finished else None,
            "residual_db": job.residual_db,
        },
        "format": fmt,
        "stems": [
            {
                "name": s.name,
                "file_name": f"{s.name}.{fmt}",
                "duration_s": s.duration_s,
                "sample_rate": s.sample_rate,
                "channels": s.channels,
                "lufs": s.lufs,
                "peak_dbfs": s.peak_dbfs,
                "silent": s.is_silent,
            }
            for s in stems
        ],
    }


@login_required
def job_zip(request: AuthenticatedHtmxHttpRequest, job_id: str, fmt: str) -> HttpResponseBase:
    """All stems in ``fmt`` and ``manifest.json``, as one zip streamed from storage."""
    job = job_for_user(request, job_id, stems=True)
    if fmt not in FORMATS or job.status != SeparationJob.Status.SUCCEEDED:
        raise Http404("no such download")
    stems = list(job.stems.all())
    files = _renditions(stems, fmt, retry_failed=not request.htmx)
    failed = [r.error for r in files.values() if r and r.state == Rendition.State.FAILED]
    pending = sum(1 for r in files.values() if r and r.state == Rendition.State.PENDING)
    if pending or failed or request.htmx:
        return _waiting(
            request, job=job, label=f"all stems as {fmt.upper()}", pending=pending, failed=failed
        )

    archive = ZipStream(sized=True)
    folder = _slug(job)
    for stem in stems:
        rendition = files[stem.pk]
        field = rendition.file if rendition else stem.file
        size = rendition.size_bytes if rendition else stem.size_bytes
        archive.add(iter_stored(field, ZIP_CHUNK), f"{folder}/{stem.name}.{fmt}", size=size)
    archive.add(
        json.dumps(_manifest(job, stems, fmt), indent=2).encode(), f"{folder}/manifest.json"
    )
    response = StreamingHttpResponse(archive, content_type="application/zip")
    response["Content-Length"] = str(len(archive))
    response["Content-Disposition"] = content_disposition_header(True, f"{folder}-stems-{fmt}.zip")
    return response


@login_required
def stem_peaks(request: AuthenticatedHttpRequest, stem_id: str) -> HttpResponse:
    """The stem's waveform peaks JSON (``audio.analysis``), cached by the browser."""
    stem = stem_for_user(request, stem_id)
    if not stem.peaks_file:
        raise Http404("no peaks for this stem")
    with stem.peaks_file.open("rb") as fh:
        response = JsonResponse(json.load(fh))
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_POST
def mix_new(request: AuthenticatedHttpRequest, job_id: str) -> HttpResponse:
    """Queue a custom mix from the mixer's gains (dB per stem; unticked stems left out)."""
    job = job_for_user(request, job_id, stems=True, role=Membership.Role.MEMBER)
    gains = {}
    for stem in job.stems.all():
        if request.POST.get(f"use_{stem.name}"):
            try:
                gains[stem.name] = float(request.POST.get(f"gain_{stem.name}", "0"))
            except ValueError:
                continue
    fmt = request.POST.get("format", "wav")
    if fmt not in FORMATS:
        raise Http404("unknown format")
    try:
        mix_create(
            job=job,
            name=request.POST.get("name", "").strip() or "Custom mix",
            gains_db=gains,
            fmt=fmt,
            user=request.user,
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The mix is being rendered; it appears below when ready.")
    return redirect("job_detail", job_id=job.pk)


@login_required
def mix_download(request: AuthenticatedHttpRequest, mix_id: str) -> HttpResponseBase:
    mix = mix_for_user(request, mix_id)
    if mix.state != Rendition.State.READY:
        raise PermissionDenied("This mix is not ready.")
    return serve_stored(
        request,
        mix.file,
        filename=f"{_slug(mix.job)}-{slugify(mix.name) or 'mix'}.{mix.format}",
        as_attachment=True,
    )
