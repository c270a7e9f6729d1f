"""The staff review queue, and the hold that keeps unapproved stems in."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from jobs.models import SeparationJob
from jobs.services import JobRequestError, job_approve, job_flag

REVIEW_PERMISSION = "jobs.review_separationjob"


def refuse_if_held(request: HttpRequest, job: SeparationJob) -> None:
    """403 for the stems of a job awaiting review, except for staff (who review them)."""
    if job.is_held and not request.user.is_staff:
        raise PermissionDenied("These stems are awaiting review by the site's staff.")


def _reviewer(request: HttpRequest) -> None:
    if not request.user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied("You may not review jobs.")


@staff_member_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Unreviewed succeeded jobs of teams that require review, oldest first."""
    _reviewer(request)
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
def review_decide(request: HttpRequest, job_id: str) -> HttpResponse:
    """Approve or flag from the queue; answers the job's row re-rendered (htmx swaps it)."""
    _reviewer(request)
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
