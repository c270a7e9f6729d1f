"""A team's library: folders nested in a tree, and projects (a stored mixture and its facts).

Every file that belongs to a project lives under its storage folder
(:func:`project_storage_prefix`): the source and its waveform, and the stems, waveforms,
renditions and mixes of its jobs. Deleting a project deletes that folder.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Team, User
from audio.probe import AudioInfo, reader_for
from stemweb.lib.storage import stored_extension


class FolderQuerySet(models.QuerySet["Folder"]):
    def for_user(self, user: User) -> FolderQuerySet:
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
    def for_user(self, user: User) -> ProjectQuerySet:
        """Projects of every team the user belongs to."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user)


def project_storage_prefix(project: Project) -> str:
    """The storage folder holding every file of ``project``. It names no team, so it stays
    right whatever happens to the team."""
    return f"projects/{project.public_id}"


def source_upload_to(project: Project, filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"{project_storage_prefix(project)}/source.{extension}"


def source_peaks_upload_to(project: Project, filename: str) -> str:
    return f"{project_storage_prefix(project)}/source.peaks.json"


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
    # The source's waveform (``audio.analysis.peaks_json``), computed by a worker after the
    # source is stored; empty until then.
    source_peaks = models.FileField(upload_to=source_peaks_upload_to, max_length=255, blank=True)
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
        # The audio facts are stored together with ``source`` (at upload, or when a platform
        # track's first job succeeds); only projects with a source are decoded.
        assert self.duration_s is not None and self.sample_rate is not None
        return round(self.duration_s * self.sample_rate)

    def audio_info(self) -> AudioInfo:
        """How to decode the stored source, from what ``probe`` found at upload."""
        assert self.sample_rate is not None and self.channels is not None  # see ``frames``
        return AudioInfo(
            container=self.container,
            codec=self.codec,
            extension=stored_extension(self.source),
            sample_rate=self.sample_rate,
            channels=self.channels,
            frames=self.frames,
            reader=reader_for(self.container),
        )
