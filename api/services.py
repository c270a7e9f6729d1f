"""Writes on API tokens: create (the plain token is returned once), revoke, record use."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership
from api.models import SHOWN_PREFIX_LENGTH, ApiToken, token_digest, token_generate

# last_used_at is written at most this often per token: a client polling every second costs
# one UPDATE a minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be made as asked. ``str(error)`` is shown to the user."""


def token_create(*, membership: Membership, name: str, role: str) -> tuple[ApiToken, str]:
    """A new token for ``membership``'s user in its team, and the plain token.

    The plain token exists only in the return value: show it once and drop it.

    Raises:
        TokenError: no name, an unknown role, or a role above the membership's.
    """
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name, so you can tell it apart later.")
    if role not in Membership.RANK:
        raise TokenError(f"Unknown role {role!r}.")
    if not membership.has_role(role):
        raise TokenError(
            f"A token cannot have a higher role than yours ({membership.role}) in "
            f"{membership.team.name}."
        )
    raw = token_generate()
    token = ApiToken.objects.create(
        membership=membership,
        name=name[:100],
        role=role,
        prefix=raw[:SHOWN_PREFIX_LENGTH],
        digest=token_digest(raw),
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke ``token`` for good; False when it already was."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        token.refresh_from_db()
    return bool(updated)


def token_touch(*, token: ApiToken) -> None:
    """Record that ``token`` was used now, unless that was recorded less than a minute ago.

    The conditional update keeps concurrent requests from writing more than one of them.
    """
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=token.pk
    ).update(last_used_at=now)
    token.last_used_at = now
