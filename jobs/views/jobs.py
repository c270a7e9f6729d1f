"""The job page, its polling status fragment, and stem files."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.text import slugify
from django.views.decorators.vary import vary_on_headers

from jobs.models import SeparationJob, Stem
from jobs.serving import serve_audio


@login_required
@vary_on_headers("HX-Request")  # one URL, two renders: the page and its status fragment
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_object_or_404(
        SeparationJob.objects.for_user(request.user).select_related("project"), pk=job_id
    )
    context = {"job": job, "project": job.project}
    if request.htmx:
        return render(request, "jobs/job_detail.html#job-status", context)
    if request.user.is_staff:
        context["events"] = list(job.events.all())
    return render(request, "jobs/job_detail.html", context)


@login_required
def stem_file(request: HttpRequest, stem_id: str) -> HttpResponse:
    """A stem's audio: inline for players, as an attachment with ``?download``."""
    stem = get_object_or_404(
        Stem.objects.filter(job__in=SeparationJob.objects.for_user(request.user)).select_related(
            "job__project"
        ),
        public_id=stem_id,
    )
    project_slug = slugify(stem.job.project.name) or "project"
    filename = f"{project_slug}-{stem.name}.{stem.format}"
    return serve_audio(
        request, stem.file, filename=filename, as_attachment="download" in request.GET
    )
