"""What the API reads and writes (django-ninja schemas; the OpenAPI document is built from them).

Objects are named by the same random UUIDs as in the site's URLs: a project's ``public_id``, a
job's ``id``, a stem's ``public_id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from ninja import Field, Schema
from pydantic import field_validator
from pydantic.json_schema import JsonDict

from jobs import signing
from jobs.models import SeparationJob, Stem
from library.models import Project
from providers.registry import PROVIDERS
from providers.stemsets import StemSet

Status = SeparationJob.Status
# The choices shown in the OpenAPI document where the services, not the schema, check a value.
PROVIDER_ENUM: JsonDict = {"enum": [*PROVIDERS]}
STEM_SET_ENUM: JsonDict = {"enum": [*StemSet.values]}


class Problem(Schema):
    """An error (RFC 9457 Problem Details, served as ``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: dict[str, list[str]] | None = Field(
        None, description="Input that did not validate: field name to messages."
    )


ERRORS: dict[int | str, Any] = {code: Problem for code in (401, 403, 404, 422, 429)}


def _known_provider(value: str | None) -> str | None:
    if value is not None and value not in PROVIDERS:
        raise ValueError(f"unknown provider; one of {', '.join(PROVIDERS)}")
    return value


class JobOut(Schema):
    id: UUID
    project: UUID = Field(description="The project's id.")
    provider: str = Field(json_schema_extra=PROVIDER_ENUM)
    stem_set: StemSet
    status: Status
    progress: float = Field(description="0 to 1, while running.")
    error: str = Field(description="Why it failed, timed out or was canceled.")
    held: bool = Field(description="Succeeded, but its stems await review by the site's staff.")
    cost: float
    cost_unit: str = Field(description="stem_seconds or credits.")
    created: datetime
    started: datetime | None
    finished: datetime | None

    @staticmethod
    def resolve_project(job: SeparationJob) -> UUID:
        return job.project.public_id

    @staticmethod
    def resolve_held(job: SeparationJob) -> bool:
        return job.is_held


class ProjectOut(Schema):
    id: UUID
    name: str
    description: str
    folder: UUID | None = Field(description="Its folder's id; null at the top level.")
    created: datetime
    original_filename: str
    container: str
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    size_bytes: int | None
    sha256: str
    latest_job: UUID | None = Field(description="Its latest job's id.")
    status: Status | None = Field(description="Its latest job's status.")

    @staticmethod
    def resolve_id(project: Project) -> UUID:
        return project.public_id

    @staticmethod
    def resolve_folder(project: Project) -> UUID | None:
        return project.folder.public_id if project.folder else None

    @staticmethod
    def resolve_latest_job(project: Project) -> UUID | None:
        return getattr(project, "latest_job_id", None)

    @staticmethod
    def resolve_status(project: Project) -> str | None:
        return getattr(project, "latest_status", None)


class ProjectDetailOut(ProjectOut):
    jobs: list[JobOut] = Field(description="Newest first.")

    @staticmethod
    def resolve_jobs(project: Project) -> list[SeparationJob]:
        return list(project.jobs.select_related("project__team").order_by("-created", "-pk"))


class UploadOut(Schema):
    project: ProjectOut
    job: JobOut


class StemOut(Schema):
    id: UUID
    name: str
    format: str
    duration_s: float
    sample_rate: int
    channels: int
    size_bytes: int
    lufs: float | None = Field(description="Integrated loudness, ITU-R BS.1770.")
    peak_dbfs: float | None
    is_silent: bool
    url: str = Field(description="A signed link to the file; it works without a token.")
    expires: datetime = Field(description="When the link stops working.")

    @staticmethod
    def resolve_id(stem: Stem) -> UUID:
        return stem.public_id

    @staticmethod
    def resolve_url(stem: Stem) -> str:
        return signing.stem_url(stem)

    @staticmethod
    def resolve_expires(stem: Stem) -> datetime:
        return timezone.now() + timedelta(seconds=settings.STEMWEB_SIGNED_URL_TTL_S)


class UploadIn(Schema):
    """The upload form's fields (``jobs.forms.UploadForm`` validates them, as on the site)."""

    provider: str = Field(json_schema_extra=PROVIDER_ENUM)
    stem_set: str = Field(json_schema_extra=STEM_SET_ENUM)
    name: str = Field("", description="Default: the file's name.")
    description: str = ""
    platform_task_id: str = Field("", description="Suno-style only: the track's taskId.")
    platform_audio_id: str = Field("", description="Suno-style only: the track's audioId.")
    folder: UUID | None = Field(None, description="The team folder to file it in; default: top.")


class JobIn(Schema):
    """A job's provider and stem set (checked by ``jobs.services.job_check_request``, as the
    site's bulk separation is)."""

    provider: str = Field(json_schema_extra=PROVIDER_ENUM)
    stem_set: str = Field(json_schema_extra=STEM_SET_ENUM)


class ProjectFilters(Schema):
    status: Status | None = Field(None, description="The latest job's status.")
    provider: str | None = Field(
        None, description="The latest job's provider.", json_schema_extra=PROVIDER_ENUM
    )
    folder: UUID | None = Field(None, description="Projects directly in this folder.")

    _provider = field_validator("provider")(_known_provider)


class JobFilters(Schema):
    status: Status | None = None
    provider: str | None = Field(None, json_schema_extra=PROVIDER_ENUM)
    folder: UUID | None = Field(None, description="Jobs on projects directly in this folder.")
    project: UUID | None = None

    _provider = field_validator("provider")(_known_provider)
