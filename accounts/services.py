"""Multi-step writes on users, teams, memberships, invitations and provider keys.

Role checks happen in the views (a view's first lines); the invariants live here: a team always
has an owner, invitations are single-use and expire, keys are stored encrypted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, ProviderKey, Team, User
from stemweb.lib.secretbox import encrypt

if TYPE_CHECKING:
    from accounts.access import AuthenticatedHttpRequest

CURRENT_TEAM_SESSION_KEY = "stemweb_team"
INVITATION_SALT = "stemweb.invitation"
Role = Membership.Role


@transaction.atomic
def team_ensure_personal(*, user: User) -> Team:
    """Return the user's personal team, creating it (with the user as owner) when missing."""
    team = Team.objects.filter(is_personal=True, memberships__user=user).first()
    if team is None:
        local_part = user.email.split("@", 1)[0]
        team = Team.objects.create(name=f"{local_part}'s team", is_personal=True)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def team_current(*, request: AuthenticatedHttpRequest) -> Membership:
    """The membership of the team the user is working in (kept in the session).

    Falls back to the personal team (or any team), so a user always has one, including
    superusers made with ``createsuperuser`` who never went through sign-up. Looked up once per
    request (the view and the page header share it).
    """
    cached = getattr(request, "_stemweb_membership", None)
    if cached is not None and cached.user_id == request.user.pk:
        return cached
    # a per-request cache: an ad-hoc attribute that HttpRequest (and its stub) does not declare
    request._stemweb_membership = membership = _team_current(request)  # type: ignore[attr-defined]
    return membership


def _team_current(request: AuthenticatedHttpRequest) -> Membership:
    user = request.user
    memberships = Membership.objects.select_related("team").filter(user=user)
    wanted = request.session.get(CURRENT_TEAM_SESSION_KEY)
    if wanted and (found := memberships.filter(team__public_id=wanted).first()):
        return found
    membership = memberships.order_by("-team__is_personal", "created").first()
    if membership is None:
        team = team_ensure_personal(user=user)
        membership = memberships.get(team=team)
    return membership


def team_switch(*, request: HttpRequest, team: Team) -> None:
    request.session[CURRENT_TEAM_SESSION_KEY] = str(team.public_id)
    request.__dict__.pop("_stemweb_membership", None)


@transaction.atomic
def team_create(*, user: User, name: str) -> Team:
    team = Team.objects.create(name=name.strip()[:100])
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def _owners(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove someone from a team (or let them leave). The last owner cannot go."""
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.OWNER and _owners(locked.team) <= 1:
        raise ValidationError("A team needs an owner: transfer ownership before leaving.")
    locked.delete()


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    """Change a member's role. Nobody becomes or stops being owner here: see
    ``ownership_transfer``."""
    if role not in Role.values:
        raise ValidationError(f"“{role}” is not a role; choose viewer, member or admin.")
    if role == Role.OWNER or membership.role == Role.OWNER:
        raise ValidationError("Ownership changes hands with a transfer, not a role change.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def ownership_transfer(*, team: Team, from_user: User, to_membership: Membership) -> None:
    """Make ``to_membership`` an owner and ``from_user`` an admin; the team keeps an owner."""
    if to_membership.team_id != team.pk:
        raise ValidationError("The new owner must be a member of the team.")
    Membership.objects.filter(team=team, user=from_user).update(role=Role.ADMIN)
    Membership.objects.filter(pk=to_membership.pk).update(role=Role.OWNER)


# --- Invitations -------------------------------------------------------------------------------


def invitation_create(
    *, team: Team, email: str, role: str, invited_by: User, request: HttpRequest
) -> Invitation:
    """Invite ``email`` with ``role`` and mail the signed link (allauth's mailer)."""
    from allauth.account.adapter import get_adapter

    if role == Role.OWNER:
        raise ValidationError("Invite as viewer, member or admin; ownership is transferred.")
    email = email.strip().lower()
    if Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already in {team.name}.")
    Invitation.objects.filter(
        team=team, email=email, accepted__isnull=True, revoked__isnull=True
    ).update(revoked=timezone.now())
    invitation = Invitation.objects.create(
        team=team,
        email=email,
        role=role,
        invited_by=invited_by,
        expires=timezone.now() + timedelta(days=settings.STEMWEB_INVITATION_DAYS),
    )
    link = request.build_absolute_uri(
        reverse("invitation_accept", args=[invitation_token(invitation)])
    )
    get_adapter(request).send_mail(
        "accounts/email/invitation",
        email,
        {
            "team": team,
            "role": invitation.get_role_display(),
            "invited_by": invited_by,
            "link": link,
            "days": settings.STEMWEB_INVITATION_DAYS,
        },
    )
    return invitation


def invitation_token(invitation: Invitation) -> str:
    return signing.TimestampSigner(salt=INVITATION_SALT).sign(str(invitation.public_id))


def invitation_problem(invitation: Invitation, user: User | None) -> str | None:
    """Why ``user`` (None: not logged in) cannot use ``invitation`` now, or None."""
    if invitation.revoked:
        return "This invitation was revoked."
    if invitation.accepted:
        return "This invitation has already been used."
    if invitation.expires <= timezone.now():
        return "This invitation has expired; ask for a new one."
    if user is not None and user.email.lower() != invitation.email.lower():
        return f"This invitation is for {invitation.email}; you are logged in as {user.email}."
    return None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join the team with the invited role. Raises ValidationError with the reason it cannot."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if problem := invitation_problem(locked, user):
        raise ValidationError(problem)
    membership, _ = Membership.objects.get_or_create(
        team=locked.team, user=user, defaults={"role": locked.role}
    )
    locked.accepted = timezone.now()
    locked.save(update_fields=["accepted"])
    return membership


def invitation_revoke(*, invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk, accepted__isnull=True).update(
        revoked=timezone.now()
    )


# --- Provider keys -----------------------------------------------------------------------------


def provider_key_set(*, team: Team, provider: str, key: str, user: User) -> ProviderKey:
    """Store a team's key for ``provider``, encrypted; replaces any earlier one."""
    key = key.strip()
    if len(key) < 8:
        raise ValidationError("That does not look like an API key (too short).")
    stored, _ = ProviderKey.objects.update_or_create(
        team=team,
        provider=provider,
        defaults={"key_encrypted": encrypt(key), "last4": key[-4:], "updated_by": user},
    )
    return stored
