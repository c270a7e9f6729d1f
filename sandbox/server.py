"""Serve the sandbox's URLconf on a loopback port with a threaded WSGI server."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test.utils import override_settings

from providers.sandboxing.common import install
from providers.sandboxing.state import Sandbox

BODY_LIMIT_MIDDLEWARE = "stemweb.lib.bodylimit.BodySizeLimitMiddleware"


class SandboxApp(WSGIHandler):
    """Django, but resolving every request against the sandbox's URLconf.

    The sandbox stands in for providers' servers, which take uploads from stemweb's workers
    without a session: stemweb's limit on its own visitors' bodies does not apply here.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        kept = [path for path in settings.MIDDLEWARE if path != BODY_LIMIT_MIDDLEWARE]
        with override_settings(MIDDLEWARE=kept):
            super().load_middleware(is_async)

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
