"""The job page, its polling status fragment, and stem files."""

from __future__ import annotations

import hashlib
from functools import cache

from django.contrib.auth.decorators import login_required
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import get_template
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from django.utils.text import slugify
from django.views.decorators.vary import vary_on_headers

from accounts.access import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from jobs.access import job_for_user, stem_for_user
from jobs.models import SeparationJob
from jobs.selectors import ab_compare
from stemweb.lib.serving import serve_stored


@login_required
@vary_on_headers("HX-Request")  # one URL, two renders: the page and its status fragment
def job_detail(request: AuthenticatedHtmxHttpRequest, job_id: str) -> HttpResponseBase:
    """The job page; with ``HX-Request``, its status fragment. A running job's fragment carries
    an ``ETag`` of what it shows, so a poll with nothing new gets a 304 without rendering."""
    job = job_for_user(request, job_id)
    polled = request.htmx and "part" not in request.GET
    etag = status_etag(request, job) if polled and not job.is_terminal else None
    if etag and (not_modified := get_conditional_response(request, etag=etag)) is not None:
        return _revalidate(not_modified, etag)
    context = {"job": job, "project": job.project, **_mixer_context(job)}
    if request.GET.get("part") == "mixes":
        return render(request, "jobs/job_detail.html#job-mixes", context)
    if polled:
        response = render(request, "jobs/job_detail.html#job-status", context)
        return _revalidate(response, etag) if etag else response
    if request.user.is_staff:
        context["events"] = list(job.events.all())
        context["audit"] = list(job.audit.select_related("actor"))
    return render(request, "jobs/job_detail.html", context)


@login_required
def stem_file(request: AuthenticatedHttpRequest, stem_id: str) -> HttpResponseBase:
    """A stem's audio: inline for players, as an attachment with ``?download``."""
    stem = stem_for_user(request, stem_id)
    project_slug = slugify(stem.job.project.name) or "project"
    filename = f"{project_slug}-{stem.name}.{stem.format}"
    return serve_stored(
        request, stem.file, filename=filename, as_attachment="download" in request.GET
    )


def status_etag(request: AuthenticatedHttpRequest, job: SeparationJob) -> str:
    """A strong ``ETag`` (quoted) of what a running job's status fragment shows: the job's
    status, progress, times, error and review, the viewer's staff flag and the template's
    source. The elapsed clock is not in it: ``static/js/polling.js`` ticks it from
    ``data-started``."""
    parts = (
        _template_digest(),
        job.status,
        f"{job.progress:.3f}",
        job.started.isoformat() if job.started else "",
        job.finished.isoformat() if job.finished else "",
        job.error,
        job.review_state,
        job.review_note,
        str(job.project.team.requires_review),
        str(request.user.is_staff),
    )
    return quote_etag(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32])


@cache
def _template_digest() -> str:
    """The job page template's source, hashed once per process: a deploy that changes the
    fragment changes every ETag."""
    source = get_template("jobs/job_detail.html").template.source  # type: ignore[attr-defined]
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _revalidate(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    """The browser keeps the fragment but asks each time (``no-cache``), sending the ETag back
    in ``If-None-Match``; ``private``: no shared cache stores a signed-in user's page."""
    response.headers["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response


def _mixer_context(job: SeparationJob) -> dict[str, object]:
    """Stems, custom mixes, and other finished jobs of the project to compare with (A/B)."""
    if job.status != SeparationJob.Status.SUCCEEDED:
        return {}
    stems = list(job.stems.all())
    compare = ab_compare(job, {s.name for s in stems})
    mixes = list(job.mixes.all())
    return {
        "stems": stems,
        "compare": compare,
        "mixes": mixes,
        "mixes_pending": any(m.state == "pending" for m in mixes),
        "duration_s": max((s.duration_s for s in stems), default=0),
    }
