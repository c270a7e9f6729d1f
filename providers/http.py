"""The one seam through which provider clients speak HTTP.

Every call has explicit connect/read timeouts, is recorded through ``RunContext.record_event``
(method, URL without secrets, status, duration, a redacted body excerpt), and turns failures into
``ProviderError``:

- network errors, timeouts, 429 (with ``Retry-After``), 5xx and malformed JSON are transient;
- 400, 401, 403, 404 and 422 are permanent, with a reason a user can act on.
"""

from __future__ import annotations

import functools
import json
import os
import re
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.utils.http import parse_http_date_safe

from providers.base import Provider, ProviderError, RunContext

EXCERPT_CHARS = 500
_SECRET_NAMES = re.compile(r"key|token|secret|signature|sig|auth|password|credential", re.I)
_JSON_SECRET = re.compile(
    r'("(?:[^"]*(?:key|token|secret|signature|password)[^"]*)"\s*:\s*)"[^"]*"', re.I
)


def redact_url(url: str) -> str:
    """``url`` with secret-looking query parameters replaced by ``[redacted]``."""
    parts = urlsplit(url)
    query = [
        (k, "[redacted]" if _SECRET_NAMES.search(k) or k.lower().startswith("x-amz") else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` cut to ``EXCERPT_CHARS``, with secret JSON values and known secrets removed."""
    text = _JSON_SECRET.sub(r'\1"[redacted]"', text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    when = parse_http_date_safe(value)
    return max(0.0, when - time.time()) if when else None


def tls_context() -> ssl.SSLContext:
    """The TLS client context of provider requests, the one httpx builds by default (certifi's
    CA bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set), built once per CA source.

    Building one parses the CA bundle (tens of ms), as much as the rest of a status check; the
    worker builds it before it forks (``stemweb.worker``), so work-horses share it.
    """
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same two variables


class ProviderHTTP:
    """HTTP for one job and one provider. ``label`` names the provider in messages;
    ``record_event(**fields)`` stores each request (``RunContext.record_event``)."""

    def __init__(
        self,
        record_event: Callable[..., None],
        *,
        label: str,
        base_url: str,
        headers: dict[str, str],
        secrets: Iterable[str] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.record_event = record_event
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.secrets = [s for s in secrets if s]
        self.client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(
                settings.STEMWEB_HTTP_READ_TIMEOUT_S,
                connect=settings.STEMWEB_HTTP_CONNECT_TIMEOUT_S,
            ),
            verify=tls_context(),
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; return the 2xx response or raise ProviderError."""
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        started = time.monotonic()
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            self._log(method, url, started, error="timed out")
            raise ProviderError(f"{self.label} did not answer in time.", permanent=False) from None
        except httpx.HTTPError as exc:
            self._log(method, url, started, error=f"{type(exc).__name__}: {exc}")
            raise ProviderError(
                f"Could not reach {self.label} ({type(exc).__name__}).", permanent=False
            ) from None
        self._log(method, str(response.request.url), started, response=response)
        if response.is_success:
            return response
        raise self._error_for(response)

    def json(self, response: httpx.Response) -> dict[str, Any]:
        """The response body as a JSON object, or a transient ProviderError."""
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProviderError(
                f"{self.label} answered with malformed JSON.", permanent=False
            ) from None
        if not isinstance(body, dict):
            raise ProviderError(f"{self.label} answered with unexpected JSON.", permanent=False)
        return body

    def _error_for(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        detail = _detail(response)
        if status == 429:
            return ProviderError(
                f"{self.label} is rate limiting requests (429).",
                permanent=False,
                retry_after=retry_after_seconds(response),
            )
        if status >= 500:
            return ProviderError(f"{self.label} had a server error ({status}).", permanent=False)
        if status in {401, 403}:
            return ProviderError(
                f"{self.label} refused the API key ({status}): check the key in the settings.",
                permanent=True,
            )
        suffix = f": {detail}" if detail else ""
        return ProviderError(
            f"{self.label} rejected the request ({status}){suffix}", permanent=True
        )

    def _log(
        self,
        method: str,
        url: str,
        started: float,
        *,
        response: httpx.Response | None = None,
        error: str = "",
    ) -> None:
        self.record_event(
            kind="request",
            method=method,
            url=redact_url(url)[:500],
            duration_ms=round((time.monotonic() - started) * 1000),
            error=error,
            status_code=response.status_code if response is not None else None,
            excerpt=redact_text(response.text, self.secrets) if response is not None else "",
        )


def _detail(response: httpx.Response) -> str:
    """A short human reason from an error body: FastAPI ``detail``, ``msg`` or ``error``."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("msg") or body.get("message") or body.get("error")
        if isinstance(detail, list):  # FastAPI/pydantic: [{"loc": [...], "msg": "..."}]
            return "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                for d in detail
                if isinstance(d, dict)
            )[:300]
        if isinstance(detail, dict):
            return str(detail.get("message") or detail.get("code") or detail)[:300]
        return str(detail or "")[:300]
    return ""


class RemoteProvider(Provider):
    """A provider behind an HTTP API: one ``call`` per request, through ``ProviderHTTP``."""

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def secrets(self, ctx: RunContext) -> list[str]:
        """Values to scrub from logged bodies, besides the API key."""
        return []

    def call(self, ctx: RunContext, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request for ``ctx.job`` and return its JSON object. Raises ProviderError."""
        key = ctx.api_key
        http = ProviderHTTP(
            ctx.record_event,
            label=self.label,
            base_url=self.config["base_url"],
            headers=self.auth_headers(key),
            secrets=[key, *self.secrets(ctx)],
        )
        try:
            return http.json(http.request(method, path, **kwargs))
        finally:
            http.close()
