"""The upload page: a file (or a platform track) becomes a project and its first job."""

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


@login_required
def upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = current_membership(request)
    if not membership.can_upload:
        raise PermissionDenied("Viewers cannot upload.")
    form = UploadForm(request.POST or None, request.FILES or None, team=membership.team)
    if request.method == "POST":
        try:  # before the upload is decoded: that is the expensive part
            require_rate(membership, "uploads")
        except RateLimited as exc:
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
            verb = "uploaded and queued" if job.project.source else "queued"
            messages.success(request, f"“{job.project.name}” is {verb}.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "jobs/upload.html", {"form": form})
