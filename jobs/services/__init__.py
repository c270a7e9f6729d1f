"""Writes with side effects on jobs (HackSoft-style services), one module per concern:

- ``intake``: checks and job creation (uploads, platform tracks, bulk separation, quotas);
- ``run``: enqueue, claim, and step a job through its provider;
- ``collect``: store a finished job's stems;
- ``peaks``: queue the waveform of a project's source;
- ``ending``: fail a job, tell the webhook;
- ``staff``: audited staff actions;
- ``recovery``: bring back lost or stuck jobs.
"""

from jobs.services.collect import StemFile, collect, store_stems
from jobs.services.ending import job_ended, job_fail
from jobs.services.intake import (
    UNIT_LABELS,
    JobRequestError,
    job_check_request,
    job_create,
    month_start,
    project_from_platform,
    project_upload,
    projects_separate,
    source_refusal,
    team_usage,
)
from jobs.services.peaks import source_peaks_request
from jobs.services.recovery import MAX_ATTEMPTS, Recovery, jobs_reconcile
from jobs.services.run import job_check, job_check_now, job_enqueue, job_run
from jobs.services.staff import (
    job_approve,
    job_cancel,
    job_delete_stems,
    job_flag,
    job_rerun,
    job_retry,
)

__all__ = [
    "MAX_ATTEMPTS",
    "UNIT_LABELS",
    "JobRequestError",
    "Recovery",
    "StemFile",
    "collect",
    "job_approve",
    "job_cancel",
    "job_check",
    "job_check_now",
    "job_check_request",
    "job_create",
    "job_delete_stems",
    "job_ended",
    "job_enqueue",
    "job_fail",
    "job_flag",
    "job_rerun",
    "job_retry",
    "job_run",
    "jobs_reconcile",
    "month_start",
    "project_from_platform",
    "project_upload",
    "projects_separate",
    "source_peaks_request",
    "source_refusal",
    "store_stems",
    "team_usage",
]
