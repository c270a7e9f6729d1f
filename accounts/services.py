"""Multi-step writes on users and teams."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Membership, Team, User

CURRENT_TEAM_SESSION_KEY = "stemweb_team"


@transaction.atomic
def team_ensure_personal(*, user: User) -> Team:
    """Return the user's personal team, creating it (with the user as owner) when missing."""
    team = Team.objects.filter(is_personal=True, memberships__user=user).first()
    if team is None:
        local_part = user.email.split("@", 1)[0]
        team = Team.objects.create(name=f"{local_part}'s team", is_personal=True)
        Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    return team


def team_current(*, request: HttpRequest) -> Membership:
    """The membership of the team the user is working in (kept in the session).

    Falls back to the personal team, so a user always has one, including superusers made with
    ``createsuperuser`` who never went through sign-up.
    """
    user = request.user
    memberships = Membership.objects.select_related("team").filter(user=user)
    wanted = request.session.get(CURRENT_TEAM_SESSION_KEY)
    if wanted and (found := memberships.filter(team__public_id=wanted).first()):
        return found
    membership = memberships.filter(team__is_personal=True).first()
    if membership is None:
        team = team_ensure_personal(user=user)
        membership = memberships.get(team=team)
    return membership
