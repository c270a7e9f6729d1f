"""Who is calling the API: a request's bearer token, and the membership it acts with.

The token acts as its owner in its one team, with the lower of its role and the owner's
current role there.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from accounts.access import AuthenticatedHttpRequest
from accounts.models import Membership
from api.models import ApiToken, token_digest

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


def token_for_user(request: AuthenticatedHttpRequest, token_id: str) -> ApiToken:
    """One of the signed-in user's own tokens (the settings page); anyone else's is 404."""
    return get_object_or_404(
        ApiToken.objects.filter(membership__user=request.user).select_related("membership__team"),
        public_id=token_id,
    )
