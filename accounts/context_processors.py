"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.services import team_current


def current_team(request: HttpRequest) -> dict[str, object]:
    """``current_team``: the team the user works in, looked up only when a template uses it
    (the header does; htmx fragments do not, so polling adds no query)."""
    if not request.user.is_authenticated:
        return {}
    return {"current_team": SimpleLazyObject(lambda: team_current(request=request).team)}
