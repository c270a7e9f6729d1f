"""Projects (a stored mixture in a team's folder), separation jobs and their stems.

The database is the source of truth for a job's status; RQ only carries work to the workers.
Objects are addressed in URLs by random UUIDs, and looked up through ``for_user`` managers.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Team
from audio.probe import AudioInfo, reader_for


class StemSet(models.TextChoices):
    """What a user asks for. Values are stored on jobs; labels are shown on forms."""

    FOREGROUND_BACKGROUND = "foreground_background", "Foreground / background"
    VOCALS_INSTRUMENTAL = "vocals_instrumental", "Vocals / instrumental"
    MULTI = "multi", "Many instruments (6 stems)"
    MULTI_12 = "multi_12", "Many instruments (12 stems)"
    DRY_REVERB = "dry_reverb", "Dry / reverb"

    @property
    def stem_names(self) -> tuple[str, ...]:
        return STEM_NAMES[self]


STEM_NAMES: dict[str, tuple[str, ...]] = {
    StemSet.FOREGROUND_BACKGROUND: ("foreground", "background"),
    StemSet.VOCALS_INSTRUMENTAL: ("vocals", "instrumental"),
    StemSet.MULTI: ("vocals", "drums", "bass", "guitar", "piano", "other"),
    # Suno-style split_stem, in the order of ../shared/specs/PROVIDERS.md
    StemSet.MULTI_12: (
        "vocals",
        "backing_vocals",
        "drums",
        "bass",
        "guitar",
        "keyboard",
        "percussion",
        "strings",
        "synth",
        "fx",
        "brass",
        "woodwinds",
    ),
    StemSet.DRY_REVERB: ("dry", "reverb"),
}


class FolderQuerySet(models.QuerySet["Folder"]):
    def for_user(self, user: settings.AUTH_USER_MODEL) -> FolderQuerySet:  # type: ignore[valid-type]
        """Folders of every team the user belongs to."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user)


class Folder(models.Model):
    """A folder in a team's project tree; ``parent`` nests it. Names are unique among siblings."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="folders")
    parent = models.ForeignKey(
        "self", models.CASCADE, null=True, blank=True, related_name="children"
    )
    name = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    camb_folder_id = models.IntegerField(null=True, blank=True)  # sent as folder_id to CAMB.AI

    objects = FolderQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "parent", "name"], name="unique_folder_name_in_parent"
            ),
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=models.Q(parent__isnull=True),
                name="unique_folder_name_at_root",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectQuerySet(models.QuerySet["Project"]):
    def for_user(self, user: settings.AUTH_USER_MODEL) -> ProjectQuerySet:  # type: ignore[valid-type]
        """Projects of every team the user belongs to."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user)


def source_upload_to(project: Project, filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"teams/{project.team.public_id}/projects/{project.public_id}/source.{extension}"


class Project(models.Model):
    """One mixture and what is known about its audio.

    Most projects are uploads. A Suno-style project instead names a track already on that
    platform (``platform_task_id`` + ``platform_audio_id``); its source file and audio facts
    are filled in from the provider's ``origin_url`` once a job succeeds.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="projects")
    folder = models.ForeignKey(
        Folder, models.SET_NULL, null=True, blank=True, related_name="projects"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="projects"
    )
    created = models.DateTimeField(auto_now_add=True)

    source = models.FileField(upload_to=source_upload_to, max_length=255, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    container = models.CharField(max_length=16, blank=True)  # "WAV", "FLAC", "MP3", "M4A", ...
    codec = models.CharField(max_length=32, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)  # Hz
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    platform_task_id = models.CharField(max_length=255, blank=True)  # Suno-style source track
    platform_audio_id = models.CharField(max_length=255, blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["team", "-created"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_platform_track(self) -> bool:
        return bool(self.platform_task_id)

    @property
    def frames(self) -> int:
        return round(self.duration_s * self.sample_rate)

    def audio_info(self) -> AudioInfo:
        """How to decode the stored source, from what ``probe`` found at upload."""
        return AudioInfo(
            container=self.container,
            codec=self.codec,
            extension=self.source.name.rsplit(".", 1)[-1],
            sample_rate=self.sample_rate,
            channels=self.channels,
            frames=self.frames,
            reader=reader_for(self.container),
        )


def new_token() -> str:
    return secrets.token_urlsafe(32)


class JobQuerySet(models.QuerySet["SeparationJob"]):
    def for_user(self, user: settings.AUTH_USER_MODEL) -> JobQuerySet:  # type: ignore[valid-type]
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
    collecting = models.BooleanField(default=False)  # one worker claimed the result download
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
        from jobs.providers import PROVIDERS  # the registry imports this module

        provider = PROVIDERS.get(self.provider)
        return provider.label if provider else self.provider

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


def stem_upload_to(stem: Stem, filename: str) -> str:
    job = stem.job
    return f"teams/{job.project.team.public_id}/jobs/{job.pk}/{filename}"


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


class WebhookDelivery(models.Model):
    """One attempt to POST a finished job to its team's webhook (Suno-style payload)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Will retry"
        FAILED = "failed", "Failed"

    team = models.ForeignKey(Team, models.CASCADE, related_name="webhook_deliveries")
    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="webhook_deliveries")
    message_id = models.CharField(max_length=64)  # webhook-id: the same for every attempt
    attempt = models.PositiveSmallIntegerField(default=1)
    url = models.URLField(max_length=500)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)  # when the POST was made
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.url} #{self.attempt}: {self.outcome}"


def rendition_upload_to(rendition: Rendition, filename: str) -> str:
    return stem_upload_to(rendition.stem, filename)


class Rendition(models.Model):
    """A stem converted to a download format, made once by a worker."""

    class Format(models.TextChoices):
        WAV = "wav", "WAV (PCM 24-bit)"
        FLAC = "flac", "FLAC"
        MP3 = "mp3", "MP3 (320 kbit/s)"

    class State(models.TextChoices):
        PENDING = "pending", "Preparing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    stem = models.ForeignKey(Stem, models.CASCADE, related_name="renditions")
    format = models.CharField(max_length=8, choices=Format.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    file = models.FileField(upload_to=rendition_upload_to, max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stem", "format"], name="one_rendition_per_format")
        ]

    def __str__(self) -> str:
        return f"{self.stem} as {self.format}"


def mix_upload_to(mix: CustomMix, filename: str) -> str:
    job = mix.job
    return f"teams/{job.project.team.public_id}/jobs/{job.pk}/mixes/{mix.public_id}/{filename}"


class CustomMix(models.Model):
    """Chosen stems at chosen gains, rendered by a worker into one file (e.g. a karaoke track)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="mixes")
    name = models.CharField(max_length=100)
    gains_db = models.JSONField()  # {"vocals": -6.0, "drums": 0.0}; stems left out are silent
    format = models.CharField(max_length=8, choices=Rendition.Format.choices)
    state = models.CharField(
        max_length=8, choices=Rendition.State.choices, default=Rendition.State.PENDING
    )
    file = models.FileField(upload_to=mix_upload_to, max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name


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
