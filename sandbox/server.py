"""Serve the sandbox's URLconf on a loopback port with a threaded WSGI server."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from providers.sandboxing.common import install
from providers.sandboxing.state import Sandbox


class SandboxApp(WSGIHandler):
    """Django, but resolving every request against the sandbox's URLconf."""

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = "sandbox.urls"
        return super().get_response(request)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> tuple[WSGIServer, str]:
    """Start serving in a background thread; returns the server and its base URL."""
    install(sandbox)
    httpd = make_server(
        host, port, SandboxApp(), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=httpd.serve_forever, name="sandbox-http", daemon=True).start()
    return httpd, f"http://{host}:{httpd.server_port}"
