"""Who may do what in a team: every view's first lookup goes through here.

Outside the team is 404 (the object is not theirs to know about); a role too low within their
own team is 403.
"""

from __future__ import annotations

from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import Invitation, Membership, Team, User
from accounts.services import INVITATION_SALT, team_current

Role = Membership.Role


class AuthenticatedHttpRequest(HttpRequest):
    """The request a view behind ``login_required`` (or ``staff_member_required``) receives:
    ``user`` is a signed-in ``User``, never ``AnonymousUser``. For annotations only."""

    user: User


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's ``HtmxMiddleware``, which sets ``htmx``.
    For annotations only (django-htmx's documented pattern)."""

    htmx: HtmxDetails


class AuthenticatedHtmxHttpRequest(AuthenticatedHttpRequest, HtmxHttpRequest):
    """Both of the above: a signed-in user's request, read for ``htmx``."""


def membership_for(request: AuthenticatedHttpRequest, team: Team) -> Membership:
    """The user's membership of ``team``; 404 when they have none."""
    membership = (
        Membership.objects.filter(user=request.user, team=team).select_related("team").first()
    )
    if membership is None:
        raise Http404("not found")
    return membership


def require_role(membership: Membership, role: str) -> None:
    """403 unless ``membership`` has ``role`` or a higher one."""
    if not membership.has_role(role):
        raise PermissionDenied(f"This needs the {role} role in {membership.team.name}.")


def current_membership(request: AuthenticatedHttpRequest, role: str = Role.VIEWER) -> Membership:
    """The membership of the team the user works in now (see ``team_current``), with ``role``."""
    membership = team_current(request=request)
    require_role(membership, role)
    return membership


def member_of_current_team(
    request: AuthenticatedHttpRequest, membership_id: str
) -> tuple[Membership, Membership]:
    """(the acting user's membership, another membership of the same team); 404 otherwise."""
    actor = team_current(request=request)
    target = (
        Membership.objects.select_related("user")
        .filter(team=actor.team, public_id=membership_id)
        .first()
    )
    if target is None:
        raise Http404("not found")
    return actor, target


def user_memberships(request: AuthenticatedHttpRequest) -> QuerySet[Membership]:
    """The user's own memberships, teams included, by team name."""
    return (
        Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    )


def invitation_for_link(token: str) -> Invitation | None:
    """The invitation an emailed link names, usable or not; None for a forged token (the view
    answers 404 then, and says why an expired or used one cannot be accepted)."""
    try:
        public_id = signing.TimestampSigner(salt=INVITATION_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Invitation.objects.select_related("team").filter(public_id=public_id).first()
