"""Guarded requests to URLs that come from outside: provider result links, teams' webhooks.

A URL must be http(s), and every address its host resolves to must be public: no private,
loopback, link-local, shared, multicast, reserved or unspecified address, nor an IPv6 address
embedding one (IPv4-mapped, 6to4, NAT64), unless the host is listed in ``allow_hosts`` (the
provider sandboxes on loopback, in development and tests).

The host is resolved once, and the connection goes to those checked addresses only: an httpcore
network backend (:class:`_PinnedBackend`, see https://www.encode.io/httpcore/network-backends/)
connects to them whatever name the URL holds, while the URL keeps its hostname, so the Host
header, the TLS server name (SNI) and the certificate check are the hostname's. A name that
answers a public address to the check and 127.0.0.1 to the connection (DNS rebinding) therefore
never reaches loopback.

Every request has a wall-clock deadline: each connect, TLS handshake, read and write is given at
most the time left, and none starts once it has passed, so a server that drips one byte a second
is cut off at the deadline, not kept alive by its drip. Resolving the name is not interruptible;
its time counts against the deadline. Downloads follow redirects by hand, each hop resolved,
checked and pinned again, and stream to disk under a size cap, never into memory.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0  # per address tried; never more than the time left
USER_AGENT = "stemweb"

_REDIRECTS = {301, 302, 303, 307, 308}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
# httpcore's exceptions share no base class; these are the ones a request can raise.
_HTTPCORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedURL(ValueError):
    """The URL is not one stemweb may fetch. ``str(error)`` says why, for the job's reason."""


class DownloadError(Exception):
    """A guarded request failed: network, deadline, or (downloads) an HTTP error status.

    ``permanent`` when trying again cannot help (404, too large).
    """

    def __init__(self, message: str, *, permanent: bool, status_code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


@dataclass(frozen=True)
class _Target:
    """A checked URL: what to ask for (``url``, with the hostname) and where to connect."""

    url: httpcore.URL
    host: str  # as httpcore passes it to connect_tcp: IDNA-encoded, IPv6 without brackets
    netloc: str  # the Host header, as httpx would send it
    addresses: tuple[str, ...]  # resolved once, all checked; connections go only here


def _is_public(address: IPAddress) -> bool:
    """True when ``address`` is a public unicast address, and so is any IPv4 address it embeds."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:  # ::ffff:a.b.c.d is a.b.c.d
            return _is_public(address.ipv4_mapped)
        embedded = address.sixtofour
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not _is_public(embedded):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> None:
    """Raise BlockedURL unless ``url`` is http(s) on a host with only public addresses.

    A check only: :func:`download` and :func:`post` connect to the addresses they checked
    themselves, never to a second lookup's.
    """
    _resolve(url, allow_hosts)


def _resolve(url: str, allow_hosts: Iterable[str]) -> _Target:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BlockedURL(f"refusing an invalid URL: {exc}") from None
    if parsed.scheme not in {"http", "https"}:
        raise BlockedURL(f"refusing a {parsed.scheme or 'schemeless'} URL: only http(s) is fetched")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise BlockedURL("refusing a URL without a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise BlockedURL(f"refusing port {port}")
    allowed = {h.lower() for h in allow_hosts} & {host, parsed.host}
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedURL(f"cannot resolve {host}: {exc.strerror}") from None
    addresses: list[str] = []
    for family, _, _, _, sockaddr in infos:
        if family not in {socket.AF_INET, socket.AF_INET6}:
            continue
        # typeshed types sockaddr[0] as str | int; for AF_INET/AF_INET6 it is a str
        literal = str(sockaddr[0])
        address = ipaddress.ip_address(literal.split("%", 1)[0])
        if not allowed and not _is_public(address):
            raise BlockedURL(f"refusing {host}: it resolves to a non-public address ({address})")
        if literal not in addresses:
            addresses.append(literal)
    if not addresses:
        raise BlockedURL(f"cannot resolve {host}: no IP address")
    return _Target(
        url=httpcore.URL(
            scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
        ),
        host=host,
        netloc=parsed.netloc.decode("ascii"),
        addresses=tuple(addresses),
    )


class _Deadline:
    """A wall-clock deadline ``seconds`` from now, on the monotonic clock."""

    SLACK_S = 0.05  # a socket timeout set to the time left fires at most this early

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def timeout(self, cap: float | None, error: type[Exception]) -> float:
        """The timeout for one operation: ``cap`` or the time left, whichever is shorter.

        Raises ``error`` (an httpcore timeout) when no time is left.
        """
        left = self._end - time.monotonic()
        if left <= 0:
            raise error(f"the deadline of {self.seconds:g} s has passed")
        return left if cap is None else min(cap, left)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._end - self.SLACK_S


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The socket timeout bounds the whole handshake (Python >= 3.5), not each record.
        tls = self._stream.start_tls(
            ssl_context, server_hostname, self._deadline.timeout(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to a target's checked addresses, in the resolver's order, and nowhere else."""

    def __init__(self, target: _Target, deadline: _Deadline):
        self._target = target
        self._deadline = deadline
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if host != self._target.host:  # one pool per target: another host is a bug
            raise httpcore.ConnectError(f"{host} is not the checked host {self._target.host}")
        error: Exception | None = None
        for address in self._target.addresses:
            try:
                stream = self._backend.connect_tcp(
                    address,
                    port,
                    self._deadline.timeout(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise error or httpcore.ConnectError("no address to connect to")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@contextmanager
def _request(
    method: str,
    target: _Target,
    deadline: _Deadline,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Iterator[httpcore.Response]:
    """One request to ``target``'s checked addresses; httpcore errors become DownloadError.

    ``what`` names the request in error messages ("downloading the result").
    """
    sent = {k.lower(): v for k, v in (headers or {}).items()}
    sent["host"] = target.netloc
    sent.setdefault("user-agent", USER_AGENT)
    try:
        with (
            httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(),
                network_backend=_PinnedBackend(target, deadline),
                retries=0,
            ) as pool,
            pool.stream(
                method,
                target.url,
                headers=list(sent.items()),
                content=content,
                extensions={"timeout": {"connect": CONNECT_TIMEOUT_S}},
            ) as response,
        ):
            yield response
    except _HTTPCORE_ERRORS as exc:
        if deadline.passed:
            raise DownloadError(
                f"{what} took longer than {deadline.seconds:g} s", permanent=False
            ) from None
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise DownloadError(f"{what} failed: {detail}"[:500], permanent=False) from None


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def download(
    url: str,
    destination: Path,
    *,
    max_bytes: int,
    timeout_s: float,
    allow_hosts: Iterable[str] = (),
) -> int:
    """Stream ``url`` into ``destination`` within ``timeout_s`` seconds, redirects included.

    Returns the number of bytes written; on any error ``destination`` is removed.

    Raises:
        BlockedURL: the URL, or a redirect target, may not be fetched.
        DownloadError: HTTP error status, too large, too slow, or a network failure.
    """
    allow = list(allow_hosts)
    deadline = _Deadline(timeout_s)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            target = _resolve(url, allow)
            with _request("GET", target, deadline, what="downloading the result") as response:
                location = _header(response, b"location")
                if response.status in _REDIRECTS and location:
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise DownloadError(
                        f"the result file answered HTTP {response.status}",
                        permanent=response.status in {401, 403, 404, 410},
                        status_code=response.status,
                    )
                declared = int(_header(response, b"content-length") or 0)
                if declared > max_bytes:
                    raise DownloadError(
                        f"the result file is too large ({declared} bytes)", permanent=True
                    )
                written = 0
                with open(destination, "wb") as out:
                    for chunk in response.iter_stream():  # as it arrives: each read is timed
                        written += len(chunk)
                        if written > max_bytes:
                            raise DownloadError(
                                f"the result file is larger than {max_bytes} bytes",
                                permanent=True,
                            )
                        out.write(chunk)
                return written
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects", permanent=True)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise


def post(
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    allow_hosts: Iterable[str] = (),
) -> int:
    """POST ``content`` to ``url`` once and return the answer's HTTP status code.

    Redirects are not followed (a 3xx is returned like any status). ``timeout_s`` bounds the
    whole request: connecting, sending, and receiving the status line and headers; the answer's
    body is not read.

    Raises:
        BlockedURL: the URL may not be requested.
        DownloadError: a network failure or the deadline (``permanent=False``).
    """
    deadline = _Deadline(timeout_s)
    target = _resolve(url, allow_hosts)
    with _request(
        "POST", target, deadline, what="the request", headers=headers, content=content
    ) as response:
        return response.status
