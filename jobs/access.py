"""Access to jobs and stems: a view's first line looks its object up here.

Another team's job or stem is 404; the stems of a job awaiting staff review are 403 for
everyone but staff.
"""

from __future__ import annotations

from math import ceil

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.crypto import constant_time_compare

from accounts.access import AuthenticatedHttpRequest, membership_for, require_role
from accounts.models import Membership
from jobs import signing
from jobs.models import SeparationJob, Stem
from library.models import Project
from stemweb.lib.ratelimit import Rate, hit

__all__ = [
    "OPERATE_PERMISSION",
    "REVIEW_PERMISSION",
    "RateLimited",
    "job_for_callback",
    "job_for_user",
    "membership_for",
    "project_for_signed_link",
    "refuse_if_held",
    "require_rate",
    "require_reviewer",
    "require_role",
    "require_staff",
    "stem_for_signed_link",
    "stem_for_user",
]

REVIEW_PERMISSION = "jobs.review_separationjob"
OPERATE_PERMISSION = "jobs.operate_separationjob"  # retry, cancel, re-run, the queues


def refuse_if_held(request: HttpRequest, job: SeparationJob) -> None:
    """403 for the stems of a job awaiting review, except for staff (who review them)."""
    if job.is_held and not request.user.is_staff:
        raise PermissionDenied("These stems are awaiting review by the site's staff.")


def job_for_user(
    request: AuthenticatedHttpRequest, job_id: str, *, stems: bool = False, role: str | None = None
) -> SeparationJob:
    """The job ``job_id`` of one of the user's teams. With ``stems``, also refuse a held job;
    with ``role``, require it in the job's team (403)."""
    job = get_object_or_404(
        SeparationJob.objects.for_user(request.user).select_related("project__team"), pk=job_id
    )
    if stems:
        refuse_if_held(request, job)
    if role is not None:
        require_role(membership_for(request, job.project.team), role)
    return job


def stem_for_user(request: AuthenticatedHttpRequest, stem_id: str) -> Stem:
    """The stem ``stem_id`` of one of the user's teams' jobs; 403 while its job is held."""
    stem = get_object_or_404(
        Stem.objects.filter(job__in=SeparationJob.objects.for_user(request.user)).select_related(
            "job__project__team"
        ),
        public_id=stem_id,
    )
    refuse_if_held(request, stem.job)
    return stem


def job_for_callback(provider: str, job_id: str, token: str) -> SeparationJob:
    """The job a provider calls back about; 404 unless the job is that provider's and the
    token matches (compared in constant time)."""
    job = SeparationJob.objects.filter(pk=job_id, provider=provider).first()
    if job is None or not constant_time_compare(token, job.callback_token):
        raise Http404("unknown callback")
    return job


def project_for_signed_link(token: str) -> Project:
    """The project behind a signed, unexpired source link that still has a source; else 404."""
    public_id = signing.unsign(token, signing.SOURCE_SALT)
    project = Project.objects.filter(public_id=public_id).first() if public_id else None
    if project is None or not project.source:
        raise Http404("link expired or invalid")
    return project


def stem_for_signed_link(token: str) -> Stem:
    """The stem behind a signed, unexpired link; 404 also while its job is held for review
    (a held job's stems do not go out, even signed)."""
    public_id = signing.unsign(token, signing.STEM_SALT)
    stem = (
        Stem.objects.select_related("job__project__team").filter(public_id=public_id).first()
        if public_id
        else None
    )
    if stem is None or stem.job.is_held:
        raise Http404("link expired or invalid")
    return stem


class RateLimited(Exception):
    """Over a rate limit; ``str`` says which and when to try again (shown with a 429), and
    ``retry_after_s`` is that wait in whole seconds (the API's ``Retry-After``)."""

    def __init__(self, message: str, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


_RATES = {
    "uploads": ("upload", "STEMWEB_UPLOAD_RATE_USER", "STEMWEB_UPLOAD_RATE_TEAM"),
    "jobs": ("job", "STEMWEB_JOB_RATE_USER", "STEMWEB_JOB_RATE_TEAM"),
}


def require_rate(membership: Membership, action: str, amount: int = 1) -> None:
    """Count ``amount`` ``action``s ("uploads" or "jobs") for the member and for their team.

    Raises:
        RateLimited: the member or the team is over its configured rate.
    """
    noun, user_setting, team_setting = _RATES[action]
    for scope, setting, key in (
        ("you", user_setting, f"{action}:user:{membership.user_id}"),
        ("your team", team_setting, f"{action}:team:{membership.team_id}"),
    ):
        rate = Rate.parse(getattr(settings, setting))
        if rate is not None and (wait := hit(key, rate, amount)) is not None:
            raise RateLimited(
                f"Too many {action}: {scope} may make {rate.count} {noun}s every "
                f"{rate.period_s} s. Try again in {ceil(wait)} s.",
                ceil(wait),
            )


def require_staff(request: HttpRequest) -> None:
    """403 unless the user is staff (queue health; the admin's own views check it too)."""
    if not request.user.is_staff:
        raise PermissionDenied("Staff only.")


def require_reviewer(request: HttpRequest) -> None:
    """403 unless the user may approve or flag jobs."""
    if not request.user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied("You may not review jobs.")


Role = Membership.Role
