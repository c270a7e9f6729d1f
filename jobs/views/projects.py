"""The upload page: a file (or a platform track) becomes a project and its first job.

Without JavaScript it is one plain form post. With it (``static/js/upload.js``), several files
chosen or dropped at once are posted one after the other, each with the form's other fields and
the header ``X-Stemweb-Upload: batch``; each such post is answered with the ``upload-result``
fragment for that file's row (201 with a link to its job, 422 with the same messages as the
page, 429 when rate limited) instead of a redirect or a whole page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.access import AuthenticatedHttpRequest, current_membership
from jobs.access import RateLimited, require_rate
from jobs.forms import UploadForm
from jobs.services import JobRequestError

BATCH_HEADER = "X-Stemweb-Upload"


@login_required
def upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = current_membership(request)
    if not membership.can_upload:
        raise PermissionDenied("Viewers cannot upload.")
    batch = request.headers.get(BATCH_HEADER) == "batch"
    # Opened from a folder (``?folder=<id>``), the project is filed there unless changed.
    initial = {"folder": request.GET.get("folder", "")}
    form = UploadForm(
        request.POST or None, request.FILES or None, team=membership.team, initial=initial
    )
    if request.method == "POST":
        try:  # before the upload is decoded: that is the expensive part
            require_rate(membership, "uploads")
        except RateLimited as exc:
            if batch:
                return _result(request, refused=str(exc), status=429)
            form = UploadForm(team=membership.team)  # unbound: the upload is not decoded
            return render(
                request, "jobs/upload.html", {"form": form, "refused": str(exc)}, status=429
            )
    if request.method == "POST" and form.is_valid():
        try:
            job = form.submit(team=membership.team, user=request.user)
        except JobRequestError as exc:
            form.add_error(None, str(exc))
        else:
            if batch:
                return _result(request, job=job, status=201)
            verb = "uploaded and queued" if job.project.source else "queued"
            messages.success(request, f"“{job.project.name}” is {verb}.")
            return redirect("job_detail", job_id=job.pk)
    if batch:
        return _result(request, form=form, status=422)
    return render(request, "jobs/upload.html", {"form": form})


def _result(request: AuthenticatedHttpRequest, *, status: int, **context: object) -> HttpResponse:
    """One batch row's outcome: the ``upload-result`` fragment of the upload page."""
    return render(request, "jobs/upload.html#upload-result", context, status=status)
