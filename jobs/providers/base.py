"""The interface every separation provider implements, after healthchecks' transports.

A job moves through three calls, each made by a worker (never inside a web request):

- ``submit(ctx)`` starts the work and returns the provider's task id (stored at once, so a
  re-delivered task resumes instead of paying twice). The local engine does all its work here.
- ``poll(ctx)`` asks how the task is doing; the orchestration schedules the next poll with RQ's
  scheduler while it is pending, so no worker sleeps on a provider.
- ``result(ctx)`` names the finished stems: URLs to download, or files on local disk.

Errors are ``ProviderError(message, permanent=...)``; only transient ones are retried.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings

from jobs.models import SeparationJob, StemSet
from jobs.storage import copy_to_local


class ProviderError(Exception):
    """A provider call failed. ``permanent`` errors fail the job; others may be retried.

    ``str(error)`` is stored on the job and shown to the user, so it must read well.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the provider asked us to wait (429)


class JobCanceled(Exception):
    """The job left the running state (canceled) while a provider worked on it."""


@dataclass
class RunContext:
    """What a provider gets for one step of a job.

    ``workdir`` is an empty directory the step owns; ``progress(fraction)`` stores 0..1 on the
    job and raises ``JobCanceled`` once the job is no longer running.
    """

    job: SeparationJob
    workdir: Path
    progress: Callable[[float], None]
    _source: Path | None = field(default=None, repr=False)

    def source_path(self) -> Path:
        """A local copy of the project's stored mixture (storage may be remote, e.g. S3)."""
        if self._source is None:
            project = self.job.project
            target = self.workdir / f"source.{project.audio_info().extension}"
            self._source = copy_to_local(project.source, target)
        return self._source

    def record_provenance(self, provenance: dict[str, Any]) -> None:
        """Store what produced the stems (engine version, models and their sha256) on the job."""
        self.job.provenance = provenance
        SeparationJob.objects.filter(pk=self.job.pk).update(provenance=provenance)

    def save_state(self, **values: Any) -> None:
        """Merge ``values`` into the job's ``provider_state`` (kept between polls)."""
        self.job.provider_state = {**self.job.provider_state, **values}
        SeparationJob.objects.filter(pk=self.job.pk).update(provider_state=self.job.provider_state)


@dataclass(frozen=True)
class Submission:
    """What ``submit`` learnt: the provider's task id, and whether the stems are ready."""

    task_id: str
    done: bool


class PollState(enum.Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Poll:
    """What ``poll`` learnt. ``reason`` explains FAILED and TIMED_OUT in the provider's words."""

    state: PollState
    reason: str = ""


@dataclass(frozen=True)
class Result:
    """Finished stems by name: a URL to download or a file on local disk. ``origin`` is the
    mixture's URL when the provider hands it back (Suno-style platform tracks)."""

    stems: dict[str, str | Path]
    origin: str | None = None


class Provider(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    queue: ClassVar[str] = "default"
    stem_sets: ClassVar[tuple[StemSet, ...]]
    accepts: ClassVar[str]  # shown on the upload page
    needs_upload: ClassVar[bool] = True  # False: the source is a track on the platform
    containers: ClassVar[frozenset[str] | None] = None  # accepted upload containers; None: all
    needs_api_key: ClassVar[bool] = True

    @property
    def config(self) -> dict[str, Any]:
        return settings.STEMWEB_PROVIDERS.get(self.key, {})

    def api_key(self, team: Any = None) -> str:
        """The team's own key for this provider when it has one, else the site's."""
        if team is not None and self.needs_api_key:
            from accounts.models import ProviderKey

            stored = ProviderKey.objects.filter(team=team, provider=self.key).first()
            if stored is not None:
                return stored.reveal()
        return self.config.get("api_key", "")

    def is_configured(self, team: Any = None, *, has_team_key: bool | None = None) -> bool:
        """Enabled on this site, with a key (the team's or the site's) when it needs one.

        ``has_team_key`` spares the lookup when the caller already knows.
        """
        if not self.config.get("enabled"):
            return False
        if not self.needs_api_key or self.config.get("api_key"):
            return True
        if has_team_key is not None:
            return has_team_key
        return bool(self.api_key(team))

    @property
    def poll_interval_s(self) -> float:
        return float(self.config.get("poll_s", 5))

    @property
    def deadline_s(self) -> float | None:
        return self.config.get("deadline_s")

    def cost(self, *, duration_s: float | None, stem_set: str) -> tuple[float, str]:
        """What a job costs in this provider's unit: (amount, unit).

        Default: stem-seconds, the audio's duration times the number of stems.
        """
        return (duration_s or 0.0) * len(StemSet(stem_set).stem_names), "stem_seconds"

    @abstractmethod
    def submit(self, ctx: RunContext) -> Submission:
        """Start work on ``ctx.job``'s mixture. Raises ProviderError."""

    @abstractmethod
    def poll(self, ctx: RunContext) -> Poll:
        """How the submitted task is doing. Raises ProviderError."""

    @abstractmethod
    def result(self, ctx: RunContext) -> Result:
        """The finished stems, one per name in ``ctx.job.stem_names``. Raises ProviderError."""
