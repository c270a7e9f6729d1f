"""Separation jobs, their stems, the provider traffic they caused, and staff actions on them.

The database is the source of truth for a job's status; RQ only carries work to the workers.
Objects are addressed in URLs by random UUIDs, and looked up through ``for_user`` managers.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from library.models import Project, project_storage_prefix
from providers.registry import provider_label
from providers.stemsets import STEM_NAMES, StemSet

if TYPE_CHECKING:
    from accounts.models import User


def new_token() -> str:
    return secrets.token_urlsafe(32)


class JobQuerySet(models.QuerySet["SeparationJob"]):
    def for_user(self, user: User) -> JobQuerySet:
        """Jobs on projects of every team the user belongs to."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(project__team__memberships__user=user)


class SeparationJob(models.Model):
    """A request to split a project's mixture into stems with one provider."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        CANCELED = "canceled", "Canceled"

    class Review(models.TextChoices):
        UNREVIEWED = "unreviewed", "Unreviewed"
        APPROVED = "approved", "Approved"
        FLAGGED = "flagged", "Flagged"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.CANCELED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, models.CASCADE, related_name="jobs")
    provider = models.CharField(max_length=32, default="local")
    stem_set = models.CharField(max_length=32, choices=StemSet.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider_task_id = models.CharField(max_length=255, blank=True)
    provider_state = models.JSONField(default=dict, blank=True)  # e.g. CAMB's run_id
    # What produced the stems, when the provider says: the local engine records its version
    # and each model file's name, source package, licence and sha256.
    provenance = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0)  # 0..1
    attempts = models.PositiveSmallIntegerField(default=0)
    # Consecutive transient provider errors (network, 429, 5xx); reset by every good answer.
    transient_errors = models.PositiveSmallIntegerField(default=0)
    checks = models.PositiveIntegerField(default=0)  # status polls made so far
    deadline = models.DateTimeField(null=True, blank=True)  # past it the job is timed_out
    callback_token = models.CharField(max_length=64, default=new_token, editable=False)
    callback_payload = models.JSONField(null=True, blank=True)  # the first valid callback
    # The claim of the worker moving the job right now (run, poll or collect): a random token
    # and the time it lapses unless renewed (see ``jobs.services.lease``). Empty when nobody
    # holds it; a lapsed one means the worker died.
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the next scheduled check of a remote job is due; past it by a margin with no check
    # waiting in RQ, the check was lost (Redis restarted empty) and recovery schedules one.
    next_check_at = models.DateTimeField(null=True, blank=True)
    # What the job costs in its provider's unit: stem-seconds (audio seconds x stems) for the
    # local engine, CAMB.AI and FineVoice; credits for Suno-style (10 or 50 per job).
    cost = models.FloatField(default=0.0)
    cost_unit = models.CharField(max_length=16, default="stem_seconds")
    # 10*log10(E[(mixture - sum of stems)^2] / E[mixture^2]) in dB: very negative when the stems
    # add back up to the mixture; None when it could not be measured.
    residual_db = models.FloatField(null=True, blank=True)
    review_state = models.CharField(
        max_length=12, choices=Review.choices, default=Review.UNREVIEWED
    )
    review_note = models.TextField(blank=True)  # why it was flagged; shown to the team
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="jobs"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["status", "created"]),
            models.Index(fields=["project", "-created"]),
            models.Index(fields=["status", "lease_until"]),
            # The checks that are due (jobs.checker, twice a second).
            models.Index(fields=["status", "next_check_at"]),
            # The jobs a person started that ended since a time (their pages' notifications).
            models.Index(fields=["created_by", "finished"]),
        ]
        permissions = [
            ("review_separationjob", "Can approve or flag separation jobs"),
            ("operate_separationjob", "Can retry, cancel, re-run jobs and delete stems"),
        ]

    def __str__(self) -> str:
        return f"{self.project} ({self.get_stem_set_display()}, {self.provider})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def stem_names(self) -> tuple[str, ...]:
        return STEM_NAMES[self.stem_set]

    @property
    def is_held(self) -> bool:
        """Succeeded, but its team wants staff to approve stems before they go out."""
        return (
            self.status == self.Status.SUCCEEDED
            and self.project.team.requires_review
            and self.review_state != self.Review.APPROVED
        )

    @property
    def provider_label(self) -> str:
        return provider_label(self.provider)

    @property
    def elapsed(self) -> timedelta | None:
        """Wall time since the worker started it, up to now or to its end."""
        if self.started is None:
            return None
        return (self.finished or timezone.now()) - self.started

    def mark_failed(self, reason: str, status: str = Status.FAILED) -> bool:
        """End a job that is not already over. Returns False when it had ended before."""
        updated = (
            SeparationJob.objects.filter(pk=self.pk)
            .exclude(status__in=self.TERMINAL)
            .update(status=status, error=reason[:2000], finished=timezone.now())
        )
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def save_provider_state(self, **values: Any) -> None:
        """Merge ``values`` into ``provider_state`` (what a provider keeps between polls)."""
        self.provider_state = {**self.provider_state, **values}
        SeparationJob.objects.filter(pk=self.pk).update(provider_state=self.provider_state)

    def record_provenance(self, provenance: dict[str, Any]) -> None:
        """Store what produced the stems (engine version, models and their sha256)."""
        self.provenance = provenance
        SeparationJob.objects.filter(pk=self.pk).update(provenance=provenance)

    def record_event(self, **fields: Any) -> None:
        """Store one provider request or callback (``JobEvent`` fields) for staff to read."""
        JobEvent.objects.create(job=self, **fields)

    def report_progress(self, fraction: float) -> bool:
        """Store progress (0..1) while running. False when the job is no longer running."""
        now = timezone.now()
        return bool(
            SeparationJob.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(
                progress=min(max(fraction, 0.0), 1.0), heartbeat=now
            )
        )


class JobEvent(models.Model):
    """One provider request/response or inbound callback, for staff to read on the job page.

    URLs are stored without secrets, and body excerpts with keys and tokens redacted.
    """

    class Kind(models.TextChoices):
        REQUEST = "request", "Provider request"
        CALLBACK = "callback", "Callback in"
        NOTE = "note", "Note"

    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="events")
    created = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    method = models.CharField(max_length=8, blank=True)
    url = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    excerpt = models.TextField(blank=True)  # at most ~500 characters, redacted
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status_code or self.error}"


def job_storage_prefix(job: SeparationJob) -> str:
    """The storage folder holding every file a job made: stems, peaks, renditions, mixes."""
    return f"{project_storage_prefix(job.project)}/jobs/{job.pk}"


def stem_upload_to(stem: Stem, filename: str) -> str:
    return f"{job_storage_prefix(stem.job)}/{filename}"


class Stem(models.Model):
    """One separated part of a job's mixture, stored as an audio file."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="stems")
    name = models.CharField(max_length=32)  # "foreground", "background", "vocals", ...
    file = models.FileField(upload_to=stem_upload_to, max_length=255)
    format = models.CharField(max_length=8)  # "flac", "wav", "mp3"
    duration_s = models.FloatField()
    sample_rate = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    lufs = models.FloatField(null=True, blank=True)  # integrated loudness, ITU-R BS.1770
    peak_dbfs = models.FloatField(null=True, blank=True)
    is_silent = models.BooleanField(default=False)
    peaks_file = models.FileField(upload_to=stem_upload_to, max_length=255, blank=True)

    class Meta:
        ordering = ["job", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="one_stem_per_name")]

    def __str__(self) -> str:
        return f"{self.job.project.name}: {self.name}"


class AuditEntry(models.Model):
    """A staff action on a job: who, when, what and why. Written by the services, never edited."""

    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=32)  # approve, flag, retry, cancel, rerun, delete_stems
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.created:%Y-%m-%d %H:%M}"
