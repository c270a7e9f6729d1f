"""The staff review queue: approve or flag held jobs in place."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from accounts.access import AuthenticatedHttpRequest
from jobs.access import require_reviewer
from jobs.models import SeparationJob
from jobs.services import JobRequestError, job_approve, job_flag


@staff_member_required
def review_queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Unreviewed succeeded jobs of teams that require review, oldest first."""
    require_reviewer(request)
    jobs = (
        SeparationJob.objects.filter(
            status=SeparationJob.Status.SUCCEEDED,
            project__team__requires_review=True,
            review_state=SeparationJob.Review.UNREVIEWED,
        )
        .select_related("project__team")
        .prefetch_related("stems")
        .order_by("finished", "created")[:100]
    )
    return render(request, "jobs/review_queue.html", {"jobs": jobs})


@staff_member_required
@require_POST
def review_decide(request: AuthenticatedHttpRequest, job_id: str) -> HttpResponse:
    """Approve or flag from the queue; answers the job's row re-rendered (htmx swaps it)."""
    require_reviewer(request)
    job = get_object_or_404(SeparationJob.objects.select_related("project__team"), pk=job_id)
    error = ""
    note = request.POST.get("note", "")
    if request.POST.get("decision") == "approve":
        job_approve(job=job, actor=request.user, note=note)
    else:
        try:
            job_flag(job=job, actor=request.user, note=note)
        except JobRequestError as exc:
            error = str(exc)
    job.refresh_from_db()
    return render(request, "jobs/review_queue.html#review-row", {"job": job, "error": error})
