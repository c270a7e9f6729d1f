"""What a person is told when a job they started ends: one wording for the browser's
notification and the email."""

from __future__ import annotations

from jobs.models import SeparationJob

Status = SeparationJob.Status

# The ends a person is told of; a canceled job was stopped by someone who knows.
TOLD = (Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT)

_OUTCOMES: dict[str, str] = {
    Status.SUCCEEDED: "is separated",
    Status.FAILED: "failed",
    Status.TIMED_OUT: "timed out",
}


def ended_title(job: SeparationJob) -> str:
    """One line: “<project>” is separated / failed / timed out."""
    return f"“{job.project.name}” {_OUTCOMES.get(job.status, job.get_status_display().lower())}"


def ended_detail(job: SeparationJob, limit: int = 200) -> str:
    """A succeeded job's stem set and provider (and whether staff review holds its stems); a
    failed or timed-out one's reason, cut to ``limit`` characters. Needs ``project__team``."""
    if job.status == Status.SUCCEEDED:
        detail = f"{job.get_stem_set_display()} by {job.provider_label}."
        if job.is_held:
            detail += " Its stems await staff review."
        return detail
    reason = job.error.strip() or "No reason was given."
    return reason if len(reason) <= limit else reason[: limit - 1].rstrip() + "…"
