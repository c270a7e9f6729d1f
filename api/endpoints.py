"""The API's endpoints: projects (upload, list, get, delete, start a job) and jobs (list, get,
stems, cancel).

Each one starts with a lookup from ``api.access`` and then calls the services the site's pages
call: the upload goes through ``jobs.forms.UploadForm`` (the same validation, size limit and
probing as the upload page) and ``UploadForm.submit`` (the same quota checks and services);
rate limits are ``jobs.access.require_rate``'s, stem links ``jobs.signing``'s.
"""

# No ``from __future__ import annotations``: django-ninja reads the parameters' annotations
# (Query, Form, File) at import time to build its parameter models.
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from ninja import File, Form, Query, Router, Status, UploadedFile
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate

from accounts.models import Membership, Team
from api.access import (
    ApiRequest,
    folder_for_caller,
    job_for_caller,
    member_for,
    project_for_caller,
)
from api.problems import InputInvalid
from api.schemas import (
    ERRORS,
    JobFilters,
    JobIn,
    JobOut,
    ProjectDetailOut,
    ProjectFilters,
    ProjectOut,
    StemOut,
    UploadIn,
    UploadOut,
)
from jobs.access import require_rate
from jobs.forms import UploadForm
from jobs.models import SeparationJob, Stem
from jobs.selectors import projects_filtered, projects_with_latest_job
from jobs.services import job_cancel, job_create
from library.access import can_edit
from library.models import Project
from library.services import projects_delete

Role = Membership.Role

router = Router()


def _project_row(team: Team, project: Project) -> Project:
    """``project`` as the listing shows it: with its latest job's id and status."""
    return projects_with_latest_job(team).select_related("folder").get(pk=project.pk)


def _jobs(team: Team) -> QuerySet[SeparationJob]:
    return SeparationJob.objects.filter(project__team=team).select_related(
        "project__team", "project__folder"
    )


@router.post(
    "/projects",
    response={201: UploadOut, **ERRORS},
    url_name="projects",
    summary="Upload a recording and start a job",
    description="Multipart form data. Role: member. Validated and limited as on the upload "
    "page: size, format, duration, channels and rate; provider, stem set and the team's quota. "
    "A Suno-style job names a platform track (taskId and audioId) instead of a file.",
)
def project_upload(
    request: ApiRequest,
    fields: Form[UploadIn],
    file: UploadedFile | None = File(None),  # noqa: B008 (django-ninja's parameter marker)
) -> Status[dict[str, Any]]:
    # ``fields`` and ``file`` describe the form in the OpenAPI document; the page's own form
    # reads the same request data and decides, so the two cannot validate differently.
    membership = member_for(request, Role.MEMBER)
    require_rate(membership, "uploads")  # before the upload is decoded, as on the page
    form = UploadForm(request.POST, request.FILES, team=membership.team)
    if not form.is_valid():
        raise InputInvalid.from_form(form.errors)
    job = form.submit(team=membership.team, user=request.user)
    return Status(201, {"project": _project_row(membership.team, job.project), "job": job})


@router.get(
    "/projects",
    response={200: list[ProjectOut], **ERRORS},
    summary="List projects",
    description="Newest first. Role: viewer.",
)
@paginate(LimitOffsetPagination)
def projects_list(request: ApiRequest, filters: Query[ProjectFilters]) -> QuerySet[Project]:
    team = member_for(request).team
    projects = projects_filtered(
        projects_with_latest_job(team),
        status=filters.status or "",
        provider=filters.provider or "",
    )
    if filters.folder is not None:
        projects = projects.filter(folder=folder_for_caller(request, filters.folder))
    return projects.select_related("folder").order_by("-created", "-pk")


@router.get(
    "/projects/{uuid:project_id}",
    response={200: ProjectDetailOut, **ERRORS},
    url_name="project",
    summary="Get a project and its jobs",
    description="Role: viewer.",
)
def project_get(request: ApiRequest, project_id: UUID) -> Project:
    project = project_for_caller(request, project_id)
    return _project_row(project.team, project)


@router.delete(
    "/projects/{uuid:project_id}",
    response={204: None, **ERRORS},
    summary="Delete a project",
    description="With its jobs, stems and files. Role: member for one's own projects, admin "
    "for any.",
)
def project_delete(request: ApiRequest, project_id: UUID) -> Status[None]:
    project = project_for_caller(request, project_id)
    if not can_edit(request.auth.membership, project):
        raise PermissionDenied("You can delete your own projects; admins can delete any.")
    projects_delete(projects=Project.objects.filter(pk=project.pk))
    return Status(204, None)


@router.post(
    "/projects/{uuid:project_id}/jobs",
    response={201: JobOut, **ERRORS},
    url_name="project_jobs",
    summary="Start a job on a project",
    description="Role: member. Checked as the site's bulk separation is: provider, stem set, "
    "what the provider accepts, the team's quota and the job rate.",
)
def job_start(request: ApiRequest, project_id: UUID, body: JobIn) -> Status[SeparationJob]:
    project = project_for_caller(request, project_id, Role.MEMBER)
    require_rate(request.auth.membership, "jobs")
    with transaction.atomic():
        job = job_create(
            project=project, user=request.user, provider_key=body.provider, stem_set=body.stem_set
        )
    return Status(201, _jobs(project.team).get(pk=job.pk))


@router.get(
    "/jobs",
    response={200: list[JobOut], **ERRORS},
    url_name="jobs",
    summary="List jobs",
    description="Newest first. Role: viewer.",
)
@paginate(LimitOffsetPagination)
def jobs_list(request: ApiRequest, filters: Query[JobFilters]) -> QuerySet[SeparationJob]:
    jobs = _jobs(member_for(request).team)
    if filters.status is not None:
        jobs = jobs.filter(status=filters.status)
    if filters.provider is not None:
        jobs = jobs.filter(provider=filters.provider)
    if filters.folder is not None:
        jobs = jobs.filter(project__folder=folder_for_caller(request, filters.folder))
    if filters.project is not None:
        jobs = jobs.filter(project=project_for_caller(request, filters.project))
    return jobs.order_by("-created", "-pk")


@router.get(
    "/jobs/{uuid:job_id}",
    response={200: JobOut, **ERRORS},
    url_name="job",
    summary="Get a job",
    description="Role: viewer. Poll it (every few seconds) until its status is no longer "
    "queued or running.",
)
def job_get(request: ApiRequest, job_id: UUID) -> SeparationJob:
    return job_for_caller(request, job_id)


@router.get(
    "/jobs/{uuid:job_id}/stems",
    response={200: list[StemOut], **ERRORS},
    url_name="job_stems",
    summary="A job's stems, with signed download links",
    description="Role: viewer. Empty until the job succeeds; 403 while its stems await "
    "review by the site's staff.",
)
def job_stems(request: ApiRequest, job_id: UUID) -> QuerySet[Stem]:
    job = job_for_caller(request, job_id)
    if job.is_held:
        # Signed links refuse a held job's stems for everyone (jobs.access.stem_for_signed_link),
        # so a token, whoever owns it, is told so instead of being handed links that 404.
        raise PermissionDenied("These stems are awaiting review by the site's staff.")
    return job.stems.select_related("job__project")


@router.post(
    "/jobs/{uuid:job_id}/cancel",
    response={200: JobOut, 409: ERRORS[404], **ERRORS},
    url_name="job_cancel",
    summary="Cancel a job",
    description="Role: member. 409 when the job has already ended.",
)
def job_cancel_endpoint(request: ApiRequest, job_id: UUID) -> SeparationJob:
    job = job_for_caller(request, job_id, Role.MEMBER)
    if not job_cancel(job=job, actor=request.user, by=request.user.email):
        raise HttpError(409, f"The job has already ended ({job.get_status_display().lower()}).")
    return _jobs(job.project.team).get(pk=job.pk)
