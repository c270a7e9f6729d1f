"""The job page, its polling status fragment, and stem files."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.vary import vary_on_headers

from jobs.models import Rendition, SeparationJob, Stem
from jobs.serving import serve_stored
from jobs.views.review import refuse_if_held


@login_required
@vary_on_headers("HX-Request")  # one URL, two renders: the page and its status fragment
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_object_or_404(
        SeparationJob.objects.for_user(request.user).select_related("project__team"), pk=job_id
    )
    context = {"job": job, "project": job.project, **_mixer_context(job)}
    if request.GET.get("part") == "mixes":
        return render(request, "jobs/job_detail.html#job-mixes", context)
    if request.htmx:
        return render(request, "jobs/job_detail.html#job-status", context)
    if request.user.is_staff:
        context["events"] = list(job.events.all())
        context["audit"] = list(job.audit.select_related("actor"))
    return render(request, "jobs/job_detail.html", context)


@login_required
def stem_file(request: HttpRequest, stem_id: str) -> HttpResponse:
    """A stem's audio: inline for players, as an attachment with ``?download``."""
    stem = get_object_or_404(
        Stem.objects.filter(job__in=SeparationJob.objects.for_user(request.user)).select_related(
            "job__project__team"
        ),
        public_id=stem_id,
    )
    refuse_if_held(request, stem.job)
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
    names = {s.name for s in stems}
    compare = []
    others = (
        SeparationJob.objects.filter(project=job.project, status=SeparationJob.Status.SUCCEEDED)
        .exclude(pk=job.pk)
        .prefetch_related("stems")
    )
    for other in others:
        shared = {
            s.name: reverse("stem_file", args=[s.public_id])
            for s in other.stems.all()
            if s.name in names
        }
        if shared:
            when = f"{other.created:%Y-%m-%d %H:%M}"
            label = f"{other.provider_label}, {other.get_stem_set_display()}, {when}"
            compare.append({"id": str(other.pk), "label": label, "stems": shared})
    mixes = list(job.mixes.all())
    return {
        "stems": stems,
        "compare": compare,
        "mixes": mixes,
        "mixes_pending": any(m.state == "pending" for m in mixes),
        "formats": Rendition.Format.choices,
        "duration_s": max((s.duration_s for s in stems), default=0),
    }
