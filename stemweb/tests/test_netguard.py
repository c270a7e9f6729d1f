"""netguard: one lookup, checked and pinned; wall-clock deadlines; real HTTP(S) on loopback.

Names are answered by a stand-in for ``socket.getaddrinfo`` (the resolver netguard asks);
everything else, connections included, is real.
"""

from __future__ import annotations

import datetime
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stemweb.lib import netguard

PUBLIC = "8.8.8.8"  # passes the check; the test's connect spy refuses it, so it is never contacted
_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection


class Server:
    """An HTTP(S) server on 127.0.0.1 that records each request's path, Host header and SNI."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]], tls=None):
        self.requests: list[tuple[str, str, str]] = []
        self.server_names: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path, self.headers["Host"]))
                status, headers, body = routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value.replace("{port}", str(server.port)))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _DripServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


class Drip:
    """A server that answers ``response`` fast up to ``fast`` bytes, then one byte per 0.5 s."""

    def __init__(self, response: bytes, fast: int):
        self.stop = threading.Event()
        drip = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.recv(65536)  # the request: headers and a small body
                self.request.sendall(response[:fast])
                for byte in response[fast:]:
                    if drip.stop.wait(0.5):
                        return
                    try:
                        self.request.sendall(bytes([byte]))
                    except OSError:
                        return  # the client gave up

        self.server = _DripServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers():
    made: list[Server | Drip] = []

    def make(kind=Server, *args, **kwargs):
        made.append(kind(*args, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def names(monkeypatch):
    """``names["x.test"] = ["8.8.8.8", "127.0.0.1"]``: x.test answers each in turn, then the last.

    Every lookup of a name is counted in ``names.asked``; other hosts resolve for real.
    """

    class Names(dict):
        asked: dict[str, int] = {}

    table = Names()
    table.asked = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        count = table.asked[host] = table.asked.get(host, 0) + 1
        answers = table[host]
        address = answers[min(count, len(answers)) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def connects(monkeypatch):
    """Every TCP connect's address; connects to PUBLIC are refused without leaving the machine."""
    seen: list[tuple[str, int]] = []

    def create_connection(address, *args, **kwargs):
        seen.append(address)
        if address[0] == PUBLIC:
            raise ConnectionRefusedError(111, "Connection refused (test spy)")
        return _real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return seen


def test_a_rebinding_name_is_connected_to_at_its_checked_address_not_loopback(
    servers, names, connects, tmp_path
):
    loopback = servers(routes={"/stems.wav": (200, {}, b"secret")})
    names["rebind.test"] = [PUBLIC, "127.0.0.1"]  # public to the check, loopback afterwards
    with pytest.raises(netguard.DownloadError, match="ConnectError"):
        netguard.download(
            f"http://rebind.test:{loopback.port}/stems.wav",
            tmp_path / "stems.wav",
            max_bytes=1000,
            timeout_s=5,
        )
    assert names.asked == {"rebind.test": 1}  # resolved once
    assert connects == [(PUBLIC, loopback.port)]  # the checked address, and only it
    assert loopback.requests == []
    assert not (tmp_path / "stems.wav").exists()


def test_a_rebinding_webhook_host_never_reaches_loopback(servers, names, connects):
    loopback = servers(routes={"/hook": (200, {}, b"")})
    names["hooks.rebind.test"] = [PUBLIC, "127.0.0.1"]
    with pytest.raises(netguard.DownloadError, match="ConnectError"):
        netguard.post(
            f"http://hooks.rebind.test:{loopback.port}/hook",
            content=b"{}",
            headers={"content-type": "application/json"},
            timeout_s=5,
        )
    assert connects == [(PUBLIC, loopback.port)] and loopback.requests == []


def test_a_name_with_any_private_address_is_refused_before_connecting(names, connects, tmp_path):
    names["intranet.test"] = ["10.1.2.3"]
    with pytest.raises(netguard.BlockedURL, match=r"non-public address \(10\.1\.2\.3\)"):
        netguard.download(
            "https://intranet.test/stems.wav", tmp_path / "x", max_bytes=10, timeout_s=5
        )
    with pytest.raises(netguard.BlockedURL, match="non-public"):
        netguard.post("http://intranet.test/hook", content=b"", headers={}, timeout_s=5)
    assert connects == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",  # noqa: S104 (a URL host here, not a bind address)
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:10.0.0.1]",
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[ff02::1]",
    ],
)
def test_non_public_addresses_are_refused(host):
    with pytest.raises(netguard.BlockedURL, match="non-public"):
        netguard.check_url(f"http://{host}/x")


def test_public_addresses_pass_the_check():
    netguard.check_url("http://8.8.8.8/x")
    netguard.check_url("https://[2606:4700:4700::1111]/x")
    netguard.check_url("https://[::ffff:8.8.8.8]/x")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://8.8.8.8/x", "http:///x"])
def test_only_http_urls_with_a_host_are_fetched(url):
    with pytest.raises(netguard.BlockedURL, match="refusing"):
        netguard.check_url(url)


def test_the_allow_list_lets_a_development_host_through_with_its_host_header(servers, tmp_path):
    server = servers(routes={"/stems.wav": (200, {}, b"RIFF....")})
    url = f"http://localhost:{server.port}/stems.wav"
    with pytest.raises(netguard.BlockedURL):
        netguard.download(url, tmp_path / "s.wav", max_bytes=100, timeout_s=5)
    written = netguard.download(
        url, tmp_path / "s.wav", max_bytes=100, timeout_s=5, allow_hosts=["localhost"]
    )
    assert written == 8 and (tmp_path / "s.wav").read_bytes() == b"RIFF...."
    assert server.requests == [("GET", "/stems.wav", f"localhost:{server.port}")]


def test_a_webhook_post_carries_the_original_host_header(servers, names):
    server = servers(routes={"/hook": (204, {}, b"")})
    names["hooks.example.test"] = ["127.0.0.1"]
    status = netguard.post(
        f"http://hooks.example.test:{server.port}/hook",
        content=b'{"a":1}',
        headers={"content-type": "application/json"},
        timeout_s=5,
        allow_hosts=["hooks.example.test"],
    )
    assert status == 204
    assert server.requests == [("POST", "/hook", f"hooks.example.test:{server.port}")]


def test_redirects_are_followed_checked_and_bounded(servers, tmp_path):
    server = servers(
        routes={
            "/start": (302, {"Location": "/moved"}, b""),
            "/moved": (307, {"Location": "http://127.0.0.1:{port}/stems.wav"}, b""),
            "/stems.wav": (200, {}, b"stems"),
            "/loop": (302, {"Location": "/loop"}, b""),
        }
    )
    base = f"http://127.0.0.1:{server.port}"
    allow = ["127.0.0.1"]
    assert (
        netguard.download(
            f"{base}/start", tmp_path / "a", max_bytes=99, timeout_s=5, allow_hosts=allow
        )
        == 5
    )
    assert [path for _, path, _ in server.requests] == ["/start", "/moved", "/stems.wav"]
    with pytest.raises(netguard.DownloadError, match="more than 5 redirects"):
        netguard.download(
            f"{base}/loop", tmp_path / "b", max_bytes=99, timeout_s=5, allow_hosts=allow
        )
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/stems.wav",  # a private address
        "http://localhost:{port}/stems.wav",  # loopback by a name the allow-list does not hold
        "http://intranet.test/stems.wav",  # a name resolving to a private address
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_a_non_public_address_is_refused(
    servers, names, connects, location, tmp_path
):
    names["intranet.test"] = ["192.168.0.10"]
    server = servers(
        routes={"/start": (302, {"Location": location}, b""), "/stems.wav": (200, {}, b"x")}
    )
    with pytest.raises(netguard.BlockedURL, match="refusing"):
        netguard.download(
            f"http://127.0.0.1:{server.port}/start",
            tmp_path / "s",
            max_bytes=99,
            timeout_s=5,
            allow_hosts=["127.0.0.1"],
        )
    assert [path for _, path, _ in server.requests] == ["/start"]
    assert connects == [("127.0.0.1", server.port)]  # the redirect target was never contacted


def test_a_webhook_post_does_not_follow_redirects(servers):
    server = servers(routes={"/hook": (302, {"Location": "/elsewhere"}, b"")})
    status = netguard.post(
        f"http://127.0.0.1:{server.port}/hook",
        content=b"{}",
        headers={},
        timeout_s=5,
        allow_hosts=["127.0.0.1"],
    )
    assert status == 302 and [path for _, path, _ in server.requests] == ["/hook"]


_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"


@pytest.mark.parametrize("fast", [0, len(_HEAD)], ids=["headers-drip", "body-drips"])
def test_a_slow_drip_download_is_cut_off_at_the_deadline(servers, tmp_path, fast):
    drip = servers(Drip, _HEAD + b"x" * 100, fast=fast)
    started = time.monotonic()
    with pytest.raises(netguard.DownloadError, match="took longer than 2 s") as error:
        netguard.download(
            f"http://127.0.0.1:{drip.port}/stems.wav",
            tmp_path / "s",
            max_bytes=1000,
            timeout_s=2,
            allow_hosts=["127.0.0.1"],
        )
    elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 3.0
    assert not error.value.permanent and not (tmp_path / "s").exists()


def test_a_slow_drip_webhook_answer_is_cut_off_at_the_deadline(servers):
    drip = servers(Drip, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", fast=0)
    started = time.monotonic()
    with pytest.raises(netguard.DownloadError, match="took longer than 2 s"):
        netguard.post(
            f"http://127.0.0.1:{drip.port}/hook",
            content=b"{}",
            headers={"content-type": "application/json"},
            timeout_s=2,
            allow_hosts=["127.0.0.1"],
        )
    assert 1.9 <= time.monotonic() - started < 3.0


# --- TLS: the server name and the certificate check are the hostname's, not the address's ---


def _certificate(subject: x509.Name, issuer: x509.Name, key, signing_key, *, ca: bool, names=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture
def tls_context(tmp_path, monkeypatch):
    """A server context for stems.test, signed by a test CA that netguard trusts (SSL_CERT_FILE)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stemweb test CA")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stems.test")])
    ca = _certificate(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = _certificate(leaf_name, ca_name, key, ca_key, ca=False, names=["stems.test"])
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    return context


def test_https_keeps_the_hostname_for_sni_host_and_certificate(
    servers, names, tls_context, tmp_path
):
    server = servers(routes={"/stems.wav": (200, {}, b"stems")}, tls=tls_context)
    names["stems.test"] = ["127.0.0.1"]
    written = netguard.download(
        f"https://stems.test:{server.port}/stems.wav",
        tmp_path / "s",
        max_bytes=99,
        timeout_s=5,
        allow_hosts=["stems.test"],
    )
    assert written == 5
    assert server.server_names == ["stems.test"]  # SNI: the name, though we dialled 127.0.0.1
    assert server.requests == [("GET", "/stems.wav", f"stems.test:{server.port}")]


def test_https_checks_the_certificate_against_the_hostname(servers, names, tls_context, tmp_path):
    server = servers(routes={"/stems.wav": (200, {}, b"stems")}, tls=tls_context)
    names["other.test"] = ["127.0.0.1"]  # same address, but the certificate is for stems.test
    with pytest.raises(netguard.DownloadError, match="CERTIFICATE_VERIFY_FAILED"):
        netguard.download(
            f"https://other.test:{server.port}/stems.wav",
            tmp_path / "s",
            max_bytes=99,
            timeout_s=5,
            allow_hosts=["other.test"],
        )
    assert server.requests == []
