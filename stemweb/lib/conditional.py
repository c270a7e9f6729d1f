"""Conditional GETs for polled htmx fragments: a strong ``ETag`` of what a fragment shows, and
the headers that make the browser revalidate its copy on every poll.

A poll with nothing new gets a 304 without rendering, and the browser hands htmx the copy it
already has (RFC 9110 §8.8.3, §13.1.2; RFC 9111 §5.2.2.4 ``no-cache``).
"""

from __future__ import annotations

import hashlib
from functools import cache

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.template.loader import get_template
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag


def fragment_etag(template_name: str, *parts: str) -> str:
    """A strong ``ETag`` (quoted) of ``parts``, what the fragment shows, and of the template's
    source, so a deploy that changes the template changes every ETag."""
    joined = "\x1f".join((template_digest(template_name), *parts))
    return quote_etag(hashlib.sha256(joined.encode()).hexdigest()[:32])


@cache
def template_digest(template_name: str) -> str:
    """A digest of the template's source (16 hex), hashed once per process: in an ETag, a
    deploy that changes the template changes it."""
    source = get_template(template_name).template.source  # type: ignore[attr-defined]
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def not_modified(request: HttpRequest, etag: str) -> HttpResponseBase | None:
    """A 304 when the request's ``If-None-Match`` names ``etag``, else None."""
    response = get_conditional_response(request, etag=etag)
    return revalidate(response, etag) if response is not None else None


def revalidate(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    """The browser keeps the fragment but asks each time (``no-cache``), sending the ETag back
    in ``If-None-Match``; ``private``: no shared cache stores a signed-in user's page."""
    response.headers["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response
