"""Guarded downloads of URLs that come from outside (provider result links).

A URL must be http(s), and its host must not resolve to a private, loopback, link-local,
multicast, reserved or unspecified address (SSRF protection), unless the host is listed in
``allow_hosts`` (the provider sandboxes on loopback, in development and tests). Redirects are
followed by hand so every hop is checked again. The body streams to disk with a size cap and an
overall deadline, never into memory.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5


class BlockedURL(ValueError):
    """The URL is not one stemweb may fetch. ``str(error)`` says why, for the job's reason."""


class DownloadError(Exception):
    """The download failed. ``permanent`` when trying again cannot help (404, too large)."""

    def __init__(self, message: str, *, permanent: bool, status_code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> None:
    """Raise BlockedURL unless ``url`` is http(s) on a host with only public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise BlockedURL(f"refusing a {parts.scheme or 'schemeless'} URL: only http(s) is fetched")
    host = parts.hostname
    if not host:
        raise BlockedURL("refusing a URL without a host")
    if host.lower() in {h.lower() for h in allow_hosts}:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedURL(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        # typeshed types sockaddr[0] as str | int; for AF_INET/AF_INET6 it is a str
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise BlockedURL(f"refusing {host}: it resolves to a non-public address ({address})")


def download(
    url: str,
    destination: Path,
    *,
    max_bytes: int,
    timeout_s: float,
    allow_hosts: Iterable[str] = (),
    client: httpx.Client | None = None,
) -> int:
    """Stream ``url`` into ``destination``; returns the number of bytes written.

    Raises:
        BlockedURL: the URL, or a redirect target, may not be fetched.
        DownloadError: HTTP error status, too large, too slow, or a network failure.
    """
    allow = list(allow_hosts)
    deadline = time.monotonic() + timeout_s
    own_client = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(min(30.0, timeout_s), connect=10.0))
    try:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, allow)
            try:
                with client.stream("GET", url, follow_redirects=False) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise DownloadError(
                            f"the result file answered HTTP {response.status_code}",
                            permanent=response.status_code in {401, 403, 404, 410},
                            status_code=response.status_code,
                        )
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise DownloadError(
                            f"the result file is too large ({declared} bytes)", permanent=True
                        )
                    written = 0
                    with open(destination, "wb") as out:
                        for chunk in response.iter_bytes(1024 * 1024):
                            written += len(chunk)
                            if written > max_bytes:
                                raise DownloadError(
                                    f"the result file is larger than {max_bytes} bytes",
                                    permanent=True,
                                )
                            if time.monotonic() > deadline:
                                raise DownloadError(
                                    f"the result file took longer than {timeout_s:.0f} s",
                                    permanent=False,
                                )
                            out.write(chunk)
                    return written
            except httpx.HTTPError as exc:
                raise DownloadError(
                    f"downloading the result failed: {type(exc).__name__}", permanent=False
                ) from None
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects", permanent=True)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    finally:
        if own_client:
            client.close()
