"""Dashboard, upload, and the project's source audio."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify

from accounts.services import team_current
from jobs.forms import UploadForm
from jobs.models import Project
from jobs.services import JobRequestError, project_from_platform, project_upload
from jobs.serving import serve_stored


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    membership = team_current(request=request)
    if not membership.can_upload:
        raise PermissionDenied("Viewers cannot upload.")
    form = UploadForm(request.POST or None, request.FILES or None, team=membership.team)
    if request.method == "POST" and form.is_valid():
        upload_file = form.cleaned_data["file"]
        try:
            if not form.provider.needs_upload:
                job = project_from_platform(
                    team=membership.team,
                    user=request.user,
                    name=form.project_name(),
                    description=form.cleaned_data["description"],
                    task_id=form.cleaned_data["platform_task_id"],
                    audio_id=form.cleaned_data["platform_audio_id"],
                    provider_key=form.provider.key,
                    stem_set=form.cleaned_data["stem_set"],
                )
            else:
                job = project_upload(
                    team=membership.team,
                    user=request.user,
                    upload_path=Path(upload_file.temporary_file_path()),
                    original_filename=upload_file.name,
                    info=form.audio_info,
                    name=form.project_name(),
                    description=form.cleaned_data["description"],
                    provider_key=form.cleaned_data["provider"],
                    stem_set=form.cleaned_data["stem_set"],
                )
        except JobRequestError as exc:
            form.add_error(None, str(exc))
        else:
            verb = "uploaded and queued" if job.project.source else "queued"
            messages.success(request, f"“{job.project.name}” is {verb}.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "jobs/upload.html", {"form": form})


@login_required
def project_source(request: HttpRequest, project_id: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.for_user(request.user), public_id=project_id)
    if not project.source:
        raise Http404("this platform track has no stored source yet")
    extension = project.source.name.rsplit(".", 1)[-1]
    filename = f"{slugify(project.name) or 'project'}-mixture.{extension}"
    return serve_stored(
        request, project.source, filename=filename, as_attachment="download" in request.GET
    )
