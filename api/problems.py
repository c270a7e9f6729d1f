"""API errors as Problem Details (RFC 9457, ``application/problem+json``).

Every error body is ``{"type": "about:blank", "title", "status", "detail"}``, plus ``errors``
for input that did not validate. The endpoints' exceptions are mapped here; whatever answers
under ``/api/`` without JSON (the body limit's 413, an unknown path's 404, a 405, a 500) is
rewritten by ``api.middleware``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.datastructures import MultiValueDict
from ninja.errors import AuthenticationError, HttpError, ValidationError

from jobs.access import RateLimited
from jobs.services import JobRequestError

if TYPE_CHECKING:
    from django.forms.utils import ErrorDict
    from ninja import NinjaAPI

CONTENT_TYPE = "application/problem+json"
JSON_TYPES = ("application/json", CONTENT_TYPE)
# Response headers a rewritten error keeps (what to retry after, which methods are allowed).
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

logger = logging.getLogger(__name__)


class InputInvalid(Exception):
    """Input that did not validate: ``errors`` maps each field (``"__all__"``: the whole
    request) to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(" ".join(m for messages in errors.values() for m in messages))
        self.errors = errors

    @classmethod
    def from_form(cls, errors: ErrorDict) -> InputInvalid:
        return cls({field: [str(m) for m in messages] for field, messages in errors.items()})


def problem(status: int, detail: str = "", **extra: Any) -> HttpResponse:
    """A Problem Details response; ``detail`` defaults to the status's reason phrase."""
    title = HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or title}
    return HttpResponse(
        json.dumps({**body, **extra}, cls=DjangoJSONEncoder),
        status=status,
        content_type=CONTENT_TYPE,
    )


def as_problem(response: HttpResponseBase) -> HttpResponseBase:
    """``response`` itself when it is no error or already JSON; else the same error as a
    Problem Details body (a short plain-text body becomes its ``detail``)."""
    content_type = response.get("Content-Type", "")
    if response.status_code < 400 or response.streaming or content_type.startswith(JSON_TYPES):
        return response
    detail = ""
    if content_type.startswith("text/plain") and isinstance(response, HttpResponse):
        text = response.content.decode(errors="replace").strip()
        detail = text if len(text) <= 300 and "\n" not in text else ""
    rewritten = problem(response.status_code, detail)
    for header in KEPT_HEADERS:
        if header in response:
            rewritten[header] = response[header]
    return rewritten


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(404, "Not found.")


def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(403, str(exc) or "Forbidden.")


def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = problem(
        401, "Send a valid API token: Authorization: Bearer <token> (Settings → API tokens)."
    )
    response["WWW-Authenticate"] = 'Bearer realm="stemweb"'
    return response


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem(exc.status_code, str(exc))


def _invalid_params(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """django-ninja's parameter errors by field: a ``loc`` is (where, [parameter,] field), and
    every parameter of this API is flat, so the field's name is its last part."""
    errors: MultiValueDict[str, str] = MultiValueDict()
    for error in exc.errors:
        loc = error.get("loc", ())
        errors.appendlist(str(loc[-1]) if len(loc) > 1 else "__all__", str(error.get("msg")))
    fields = {key: errors.getlist(key) for key in errors}
    detail = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in fields.items())
    return problem(422, detail, errors=fields)


def _invalid_input(request: HttpRequest, exc: InputInvalid) -> HttpResponse:
    return problem(422, str(exc), errors=exc.errors)


def _refused(request: HttpRequest, exc: JobRequestError) -> HttpResponse:
    return problem(422, str(exc))


def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = problem(429, str(exc))
    response["Retry-After"] = str(max(exc.retry_after_s, 1))
    return response


def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error on %s %s", request.method, request.path)
    return problem(500, "Something went wrong on our side; it has been logged.")


HANDLERS: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
    (Http404, _not_found),
    (PermissionDenied, _forbidden),
    (AuthenticationError, _unauthenticated),
    (HttpError, _http_error),
    (ValidationError, _invalid_params),
    (InputInvalid, _invalid_input),
    (JobRequestError, _refused),
    (RateLimited, _rate_limited),
    (Exception, _server_error),
]


def register(api: NinjaAPI) -> None:
    """Map the exceptions an endpoint may raise to problems on ``api`` (the most specific
    class of an exception that has a handler picks it)."""
    for exc_class, handler in HANDLERS:
        api.add_exception_handler(exc_class, handler)
