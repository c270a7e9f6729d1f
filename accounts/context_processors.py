"""Template context shared by every page."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.access import AuthenticatedHttpRequest
from accounts.services import team_current


def current_team(request: HttpRequest) -> dict[str, object]:
    """``current_team``: the team the user works in, looked up only when a template uses it
    (the header does; htmx fragments do not, so polling adds no query)."""
    if not request.user.is_authenticated:
        return {}
    signed_in = cast(AuthenticatedHttpRequest, request)  # checked just above
    return {"current_team": SimpleLazyObject(lambda: team_current(request=signed_in).team)}
