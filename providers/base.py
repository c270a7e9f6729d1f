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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings

from providers.stemsets import StemSet
from stemweb.lib.storage import copy_to_local

if TYPE_CHECKING:  # providers read the job; every write goes through RunContext's callables
    from jobs.models import SeparationJob


class ProviderError(Exception):
    """A provider call failed. ``permanent`` errors fail the job; others may be retried.

    ``str(error)`` is stored on the job and shown to the user, so it must read well.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the provider asked us to wait (429)


class CallbackError(ValueError):
    """A callback body the provider's wire format does not allow; ``str`` is the 400 reason."""


class JobCanceled(Exception):
    """The job left the running state (canceled) while a provider worked on it."""


@dataclass
class RunContext:
    """What a provider gets for one step of a job, from the run service (``jobs.services.run``).

    Providers read ``job`` and write only through the callables here, so they never import a
    model at run time:

    - ``progress(fraction)`` stores 0..1 and raises ``JobCanceled`` once the job stopped running;
    - ``save_state(**values)`` merges values into the job's ``provider_state`` (kept between
      polls);
    - ``record_event(**fields)`` stores one ``JobEvent`` (a request, for staff to read);
    - ``record_provenance(dict)`` stores what produced the stems;
    - ``source_url()`` is a signed, expiring link to the project's source;
    - ``api_key`` is the team's key for this provider, else the site's; ``callback_url`` where
      the provider may call back.

    ``workdir`` is an empty directory the step owns.
    """

    job: SeparationJob
    workdir: Path
    progress: Callable[[float], None]
    save_state: Callable[..., None]
    record_event: Callable[..., None]
    record_provenance: Callable[[dict[str, Any]], None]
    source_url: Callable[[], str]
    api_key: str = ""
    callback_url: str = ""
    _source: Path | None = field(default=None, repr=False)

    def source_path(self) -> Path:
        """A local copy of the project's stored mixture (storage may be remote, e.g. S3)."""
        if self._source is None:
            project = self.job.project
            target = self.workdir / f"source.{project.audio_info().extension}"
            self._source = copy_to_local(project.source, target)
        return self._source


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

    stems: Mapping[str, str | Path]
    origin: str | None = None


class Provider(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    cpu_bound: ClassVar[bool] = False  # True: runs on the worker's CPU (the local queue)
    # Whether a task id still means something on a retry: a remote task can be polled again;
    # the local engine's "task" was files in a work directory that is gone.
    resumable: ClassVar[bool] = True
    stem_sets: ClassVar[tuple[StemSet, ...]]
    accepts: ClassVar[str]  # shown on the upload page
    needs_upload: ClassVar[bool] = True  # False: the source is a track on the platform
    containers: ClassVar[frozenset[str] | None] = None  # accepted upload containers; None: all
    needs_api_key: ClassVar[bool] = True

    @property
    def config(self) -> dict[str, Any]:
        return settings.STEMWEB_PROVIDERS.get(self.key, {})

    @property
    def site_api_key(self) -> str:
        """The site's key for this provider (``STEMWEB_<KEY>_API_KEY``); a team's own key,
        when it has one, is looked up by the run service and wins."""
        return self.config.get("api_key", "")

    def is_configured(self, *, has_team_key: bool) -> bool:
        """Enabled on this site, with a key (the team's or the site's) when it needs one."""
        if not self.config.get("enabled"):
            return False
        return not self.needs_api_key or bool(self.config.get("api_key")) or has_team_key

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

    def parse_callback(self, payload: Any, task_id: str) -> int:
        """Check a JSON-decoded callback body against the provider's wire format.

        ``task_id`` is the job's provider task id ("" before it is known). Returns the
        provider's status code in the body, for the event log.

        Raises:
            CallbackError: not a callback this provider sends (or it sends none at all).
        """
        raise CallbackError(f"{self.label} does not call back")

    @abstractmethod
    def submit(self, ctx: RunContext) -> Submission:
        """Start work on ``ctx.job``'s mixture. Raises ProviderError."""

    @abstractmethod
    def poll(self, ctx: RunContext) -> Poll:
        """How the submitted task is doing. Raises ProviderError."""

    @abstractmethod
    def result(self, ctx: RunContext) -> Result:
        """The finished stems, one per name in ``ctx.job.stem_names``. Raises ProviderError."""
