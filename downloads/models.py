"""Files made from a job's stems on request: a stem in another format, or a custom mix.

Both are rendered once by a worker and kept in storage under the job's folder, so deleting the
job's project deletes them too.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from downloads.formats import Format
from jobs.models import SeparationJob, Stem, job_storage_prefix, stem_upload_to


class Rendered(models.Model):
    """What a worker renders: its format, where it stands, and the file once ready."""

    class State(models.TextChoices):
        PENDING = "pending", "Preparing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    format = models.CharField(max_length=8, choices=Format.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    file = models.FileField(max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # How many times it was handed to RQ; the task renders only for the newest hand-over, so a
    # re-enqueue by recovery never renders twice. Recovery gives up after a few.
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)  # the newest hand-over

    class Meta:
        abstract = True

    def mark_failed(self, exc: BaseException) -> None:
        """Store the failure for polls to show; the row stays until a person asks again."""
        # ``objects`` is the default manager of both concrete models; django-stubs does not
        # give an abstract model ``objects``.
        type(self)._default_manager.filter(pk=self.pk).update(
            state=self.State.FAILED, error=f"{type(exc).__name__}: {exc}"
        )


def rendition_upload_to(rendition: Rendition, filename: str) -> str:
    return stem_upload_to(rendition.stem, filename)


class Rendition(Rendered):
    """A stem converted to a download format."""

    stem = models.ForeignKey(Stem, models.CASCADE, related_name="renditions")
    file = models.FileField(upload_to=rendition_upload_to, max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stem", "format"], name="one_rendition_per_format")
        ]

    def __str__(self) -> str:
        return f"{self.stem} as {self.format}"


def mix_upload_to(mix: CustomMix, filename: str) -> str:
    return f"{job_storage_prefix(mix.job)}/mixes/{mix.public_id}/{filename}"


class CustomMix(Rendered):
    """Chosen stems at chosen gains in one file (e.g. a karaoke track)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="mixes")
    name = models.CharField(max_length=100)
    gains_db = models.JSONField()  # {"vocals": -6.0, "drums": 0.0}; stems left out are silent
    file = models.FileField(upload_to=mix_upload_to, max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name
