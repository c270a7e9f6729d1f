"""Requests under /api/ are the API's from the first middleware that knows about users on.

:class:`ApiMiddleware` sits after Django's ``AuthenticationMiddleware`` and before
``stemweb.lib.bodylimit.BodySizeLimitMiddleware``:

- it replaces the session's user with the bearer token's owner (or an anonymous user), so the
  body limit lets a token's upload be as large as a signed-in user's, refuses a large body
  without a valid token before it is read, and a session cookie never authenticates an API
  request (so CSRF does not arise);
- it rewrites every error under /api/ that is not JSON (the body limit's 413, a 404 for an
  unknown path, a 405, a 500) as Problem Details (``api.problems``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from api.access import API_ROOT, caller_for
from api.problems import as_problem


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(API_ROOT):
            return self.get_response(request)
        caller = caller_for(request)
        request.user = caller.membership.user if caller is not None else AnonymousUser()
        return as_problem(self.get_response(request))
