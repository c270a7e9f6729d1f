"""Who is calling the API, and what they may reach: every endpoint's first line looks up here.

A request is authenticated by its ``Authorization: Bearer <token>`` header only (never by a
session cookie, so CSRF does not arise). The token acts as its owner in its one team, with the
lower of its role and the owner's current role there. The same lookups as the pages follow
(``library.access``, ``jobs.access``), then narrowed to the token's team: another team's object
is 404, even one of the owner's other teams; a role too low is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from uuid import UUID

from django.conf import settings
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from accounts.access import AuthenticatedHttpRequest, require_role
from accounts.models import Membership
from api.models import ApiToken, token_digest
from jobs.access import RateLimited, job_for_user
from jobs.models import SeparationJob
from library.access import project_for_user, target_folder
from library.models import Folder, Project
from stemweb.lib.ratelimit import Rate, hit

Role = Membership.Role

API_ROOT = "/api/"  # every path under it authenticates by token only and answers JSON
_CALLER_ATTR = "_stemweb_api_caller"


@dataclass(frozen=True)
class Caller:
    """A request's valid token and the membership it acts with.

    ``membership`` is the owner's membership with the role capped by the token's. It is built
    in memory and never saved (it has no primary key; saving it would break the one-membership
    constraint rather than change a role).
    """

    token: ApiToken
    membership: Membership


class ApiRequest(AuthenticatedHttpRequest):
    """A request that passed the API's token authentication (``auth`` is set by django-ninja).
    For annotations only."""

    auth: Caller


def caller_for(request: HttpRequest) -> Caller | None:
    """The caller named by the request's bearer token; None without one, or when the token is
    unknown or revoked, its owner is inactive or no longer in the team (their membership and
    its tokens are gone then). Looked up once per request."""
    if hasattr(request, _CALLER_ATTR):
        return getattr(request, _CALLER_ATTR)
    caller = None
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        token = (
            ApiToken.objects.active()
            .select_related("membership__user", "membership__team")
            .filter(digest=token_digest(raw.strip()))
            .first()
        )
        if token is not None and token.membership.user.is_active:
            member = token.membership
            caller = Caller(
                token=token,
                membership=Membership(
                    team=member.team, user=member.user, role=token.effective_role
                ),
            )
    setattr(request, _CALLER_ATTR, caller)
    return caller


def require_token_rate(caller: Caller) -> None:
    """Count one request against the token's rate (``STEMWEB_API_RATE_TOKEN``).

    Raises:
        RateLimited: the token is over its rate.
    """
    rate = Rate.parse(settings.STEMWEB_API_RATE_TOKEN)
    if rate is not None and (wait := hit(f"api:token:{caller.token.pk}", rate)) is not None:
        raise RateLimited(
            f"Too many requests: this token may make {rate.count} requests every "
            f"{rate.period_s} s. Try again in {ceil(wait)} s.",
            ceil(wait),
        )


def member_for(request: ApiRequest, role: str = Role.VIEWER) -> Membership:
    """The caller's (capped) membership of the token's team, with ``role`` (403)."""
    membership = request.auth.membership
    require_role(membership, role)
    return membership


def _in_token_team(request: ApiRequest, team_id: int) -> None:
    if team_id != request.auth.membership.team_id:
        raise Http404("not found")


def project_for_caller(request: ApiRequest, project_id: UUID, role: str = Role.VIEWER) -> Project:
    """The project ``project_id`` of the token's team; 404 elsewhere, 403 below ``role``."""
    project, _ = project_for_user(request, str(project_id))
    _in_token_team(request, project.team_id)
    member_for(request, role)
    return project


def job_for_caller(request: ApiRequest, job_id: UUID, role: str = Role.VIEWER) -> SeparationJob:
    """The job ``job_id`` of the token's team; 404 elsewhere, 403 below ``role``."""
    job = job_for_user(request, str(job_id))
    _in_token_team(request, job.project.team_id)
    member_for(request, role)
    return job


def folder_for_caller(request: ApiRequest, folder_id: UUID) -> Folder:
    """A folder of the token's team named by a filter; 404 elsewhere."""
    folder = target_folder(request.auth.membership, str(folder_id))
    assert folder is not None  # a UUID is never the empty "top level" value
    return folder


def token_for_user(request: AuthenticatedHttpRequest, token_id: str) -> ApiToken:
    """One of the signed-in user's own tokens (the settings page); anyone else's is 404."""
    return get_object_or_404(
        ApiToken.objects.filter(membership__user=request.user).select_related("membership__team"),
        public_id=token_id,
    )
