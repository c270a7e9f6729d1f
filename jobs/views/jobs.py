"""The job page, its polling status fragment, and stem files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.access import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest, membership_for
from accounts.models import Membership
from jobs.access import job_for_user, stem_for_user
from jobs.models import SeparationJob
from jobs.polling import job_etag
from jobs.selectors import ab_compare
from jobs.services import job_cancel
from stemweb.lib.conditional import not_modified, revalidate
from stemweb.lib.serving import serve_stored

Role = Membership.Role


@login_required
@vary_on_headers("HX-Request")  # one URL, two renders: the page and its status fragment
def job_detail(request: AuthenticatedHtmxHttpRequest, job_id: str) -> HttpResponseBase:
    """The job page; with ``HX-Request``, its status fragment. A running job's fragment carries
    an ``ETag`` of what it shows, bound to this session, so a poll with nothing new gets a 304
    without rendering (``jobs.polling``: from the next one on, before the session middleware)."""
    job = job_for_user(request, job_id)
    polled = request.htmx and "part" not in request.GET
    etag = None
    if polled and not job.is_terminal:
        etag = job_etag(request, job)
    if etag and (unchanged := not_modified(request, etag)) is not None:
        return unchanged
    context = {
        "job": job,
        "project": job.project,
        **_mixer_context(job),
        "comparing": request.GET.get("compare", ""),  # the A/B job the mixer starts on
    }
    if request.GET.get("part") == "mixes":
        return render(request, "jobs/job_detail.html#job-mixes", context)
    if polled:
        response = render(request, "jobs/job_detail.html#job-status", context)
        return revalidate(response, etag) if etag else response
    context["can_cancel"] = membership_for(request, job.project.team).has_role(Role.MEMBER)
    if request.user.is_staff:
        context["events"] = list(job.events.all())
        context["audit"] = list(job.audit.select_related("actor"))
    return render(request, "jobs/job_detail.html", context)


@login_required
@require_POST
def job_cancel_view(request: AuthenticatedHttpRequest, job_id: str) -> HttpResponseBase:
    """Cancel a queued or running job (role: member), then back to its page, which says so."""
    job = job_for_user(request, job_id, role=Role.MEMBER)
    if job_cancel(job=job, actor=request.user, by=request.user.email):
        messages.success(request, "The job was canceled.")
    else:
        messages.info(request, f"The job had already ended ({job.get_status_display().lower()}).")
    return redirect("job_detail", job.pk)


@login_required
def stem_file(request: AuthenticatedHttpRequest, stem_id: str) -> HttpResponseBase:
    """A stem's audio: inline for players, as an attachment with ``?download``."""
    stem = stem_for_user(request, stem_id)
    project_slug = slugify(stem.job.project.name) or "project"
    filename = f"{project_slug}-{stem.name}.{stem.format}"
    return serve_stored(
        request, stem.file, filename=filename, as_attachment="download" in request.GET
    )


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
