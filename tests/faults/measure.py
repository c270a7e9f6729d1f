"""What a fault left behind, read from the database, the sandbox and storage: one table row.

A row passes when every affected job ended as expected (succeeded unless the fault is meant to
fail it), each remote job was submitted once (accepted POSTs in its request log, and tasks in
the sandbox's own books), each succeeded job has exactly its stem set, stored, and no file in
storage is unreferenced or missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from downloads.models import CustomMix, Rendition
from jobs.models import JobEvent, SeparationJob, Stem
from library.models import Project

Status = SeparationJob.Status


@dataclass
class Outcome:
    """What one fault did: the jobs it affected and when recovery started counting.

    ``t0`` is the fault itself (a kill, a flush), or the end of a fault that lasts (Redis
    back, the provider back, the receiver back), as ``t0_label`` says.
    """

    name: str
    jobs: list[str] = field(default_factory=list)
    t0: datetime | None = None
    t0_label: str = "from the fault"
    expect: dict[str, str] = field(default_factory=dict)  # job id -> status; else succeeded
    renditions: list[int] = field(default_factory=list)  # must end ready
    sandbox_tasks: int = 0  # tasks the sandbox took during the fault
    done_at: datetime | None = None  # when the last non-job item (rendition, delivery) ended
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class Row:
    fault: str
    jobs: str = ""
    states: str = ""
    submissions: str = ""
    stems: str = ""
    orphans: str = ""
    recover: str = ""
    result: str = ""
    notes: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


HEADER = (
    "fault",
    "jobs",
    "end states",
    "submissions per job",
    "stems per job",
    "orphan files",
    "time to recover",
    "result",
    "notes",
)


def storage_check(media: Path) -> tuple[list[str], list[str]]:
    """(files in storage no row references, referenced files that do not exist)."""
    referenced: set[str] = set()
    for model, fields in (
        (Project, ("source",)),
        (Stem, ("file", "peaks_file")),
        (Rendition, ("file",)),
        (CustomMix, ("file",)),
    ):
        for values in model._default_manager.values_list(*fields):
            referenced.update(v for v in values if v)
    stored = {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}
    return sorted(stored - referenced), sorted(referenced - stored)


def _same(values: list[Any], unit: str = "") -> str:
    if not values:
        return "-"
    if len(set(values)) == 1:
        return f"{values[0]}{unit} each" if len(values) > 1 else f"{values[0]}{unit}"
    return ", ".join(f"{v}{unit}" for v in values)


def measure(outcome: Outcome, media: Path) -> Row:
    if outcome.skipped:
        row = Row(outcome.name, *["-"] * 6, result=f"skipped: {outcome.skipped}")
        row.notes = "; ".join(outcome.notes)
        return row
    problems = list(outcome.problems)
    jobs = list(SeparationJob.objects.filter(pk__in=outcome.jobs).prefetch_related("stems"))
    jobs.sort(key=lambda j: outcome.jobs.index(str(j.pk)))
    states = Counter(job.status for job in jobs)
    submissions: dict[str, list[int]] = {}
    stem_counts = []
    remote = 0
    for job in jobs:
        expected = outcome.expect.get(str(job.pk), Status.SUCCEEDED)
        if job.status != expected:
            problems.append(f"job {job.pk} ({job.provider}) {job.status}: {job.error[:200]}")
        if job.provider == "local":
            submissions.setdefault("local runs", []).append(job.attempts + 1)
        else:
            remote += 1
            accepted = JobEvent.objects.filter(
                job=job,
                kind=JobEvent.Kind.REQUEST,
                method="POST",
                status_code__gte=200,
                status_code__lt=300,
            ).count()
            submissions.setdefault(job.provider, []).append(accepted)
            if accepted != 1:
                problems.append(f"job {job.pk} was submitted {accepted} times")
        names = sorted(stem.name for stem in job.stems.all())
        stem_counts.append(len(names))
        want = sorted(job.stem_names) if job.status == Status.SUCCEEDED else []
        if names != want:
            problems.append(f"job {job.pk} has stems {names}, expected {want}")
    if remote and outcome.sandbox_tasks != remote:
        problems.append(f"the sandbox took {outcome.sandbox_tasks} tasks for {remote} remote jobs")
    for rendition in Rendition.objects.filter(pk__in=outcome.renditions):
        if rendition.state != Rendition.State.READY:
            problems.append(f"rendition {rendition.pk} {rendition.state}: {rendition.error[:200]}")
    orphans, missing = storage_check(media)
    if orphans:
        problems.append(f"orphan files: {orphans[:5]}")
    if missing:
        problems.append(f"rows pointing at missing files: {missing[:5]}")
    ends = [job.finished for job in jobs if job.finished is not None]
    if outcome.done_at is not None:
        ends.append(outcome.done_at)
    recover = "-"
    if outcome.t0 is not None and ends:
        seconds = max(0.0, (max(ends) - outcome.t0).total_seconds())
        recover = f"{seconds:.1f} s {outcome.t0_label}"
    subs = "; ".join(f"{kind} {_same(counts)}" for kind, counts in submissions.items())
    if remote:
        subs += f" (sandbox tasks: {outcome.sandbox_tasks})"
    extra = f" + {len(outcome.renditions)} rendition" if outcome.renditions else ""
    return Row(
        fault=outcome.name,
        jobs=f"{len(jobs)}{extra}",
        states=", ".join(f"{n} {status}" for status, n in states.items()),
        submissions=subs,
        stems=_same(stem_counts),
        orphans=str(len(orphans)),
        recover=recover,
        result="pass" if not problems else "FAIL",
        notes="; ".join(outcome.notes),
        problems=problems,
    )


def now() -> datetime:
    return timezone.now()


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        cells = (
            row.fault,
            row.jobs,
            row.states,
            row.submissions,
            row.stems,
            row.orphans,
            row.recover,
            row.result,
            row.notes,
        )
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)
