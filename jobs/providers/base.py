"""The interface every separation provider implements.

A provider turns a job's mixture into stem files in a work directory. Remote providers submit
the source and poll their API; the local engine does the work inside ``submit``. The
orchestration in ``jobs.services`` stores the files and moves the job's status.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from jobs.models import SeparationJob, StemSet


class ProviderError(Exception):
    """A provider call failed. ``permanent`` errors fail the job; others may be retried.

    ``str(error)`` is stored on the job and shown to the user, so it must read well.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class JobCanceled(Exception):
    """The job left the running state (canceled) while a provider worked on it."""


@dataclass
class RunContext:
    """What a provider gets for one job run.

    ``source`` is a local copy of the project's mixture; ``workdir`` is an empty directory the
    run owns; ``progress(fraction)`` stores 0..1 on the job and raises ``JobCanceled`` once the
    job is no longer running.
    """

    job: SeparationJob
    source: Path
    workdir: Path
    progress: Callable[[float], None]


@dataclass(frozen=True)
class Submission:
    """What ``submit`` learnt: the provider's task id, and whether the stems are ready."""

    task_id: str
    done: bool


@dataclass(frozen=True)
class StemFile:
    """A finished stem on local disk, before it is copied into stemweb's storage."""

    name: str
    path: Path


class Provider(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    queue: ClassVar[str] = "default"
    stem_sets: ClassVar[tuple[StemSet, ...]]
    accepts: ClassVar[str]  # shown on the upload page

    def is_configured(self) -> bool:
        return True

    @abstractmethod
    def submit(self, ctx: RunContext) -> Submission:
        """Start work on ``ctx.job``'s mixture. Raises ProviderError."""

    @abstractmethod
    def poll(self, ctx: RunContext) -> bool:
        """True once the task is done and ``result`` may be called. Raises ProviderError."""

    @abstractmethod
    def result(self, ctx: RunContext) -> list[StemFile]:
        """The finished stems, one per name in ``ctx.job.stem_names``. Raises ProviderError."""
