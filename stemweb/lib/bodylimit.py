"""Request bodies past the upload limit are refused before they are written anywhere.

:class:`BodySizeLimitMiddleware`, first in the chain, answers 413 to a request whose
``Content-Length`` is over ``STEMWEB_MAX_UPLOAD_MB`` (plus 1 MiB for the form's other fields and
the multipart framing) without reading its body: nothing reaches the temporary directory,
whoever sends it, logged in or not, with or without a CSRF cookie. That also bounds a body that
streams more than it announced: Django reads at most ``Content-Length`` bytes of any body
(``LimitedStream``), and a body without a length is read as empty.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

MULTIPART_SLACK = 1024 * 1024  # the form's other fields and the multipart boundaries


def body_limit(request: HttpRequest | None = None) -> int:
    """The largest request body accepted from ``request``'s sender, in bytes."""
    if request is not None and not request.user.is_authenticated:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return settings.STEMWEB_MAX_UPLOAD_MB * 1024 * 1024 + MULTIPART_SLACK


class BodySizeLimitMiddleware:
    """413 for a body whose ``Content-Length`` is over the limit, before it is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > body_limit():
            message = f"The upload is too large: the limit is {settings.STEMWEB_MAX_UPLOAD_MB} MB."
        elif length > body_limit(request):
            message = "The request is too large. Sign in to upload recordings."
        else:
            return self.get_response(request)
        return HttpResponse(message + "\n", status=413, content_type="text/plain; charset=utf-8")
