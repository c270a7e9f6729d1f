"""What the fault suite serves on loopback around stemweb: a gate in front of the provider
sandboxes, and a team's webhook receiver that can go down and come back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SandboxGate:
    """WSGI middleware around the sandbox: counts result-file downloads (``/files/``) and can
    hold the ones after the first ``free``, until released: a worker caught collecting."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.downloads = 0
        self.held = 0
        self._free: int | None = None  # None: nothing held
        self._released = threading.Event()
        self._released.set()

    def hold_after(self, free: int) -> None:
        with self._lock:
            self.downloads = self.held = 0
            self._free = free
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._free = None
        self._released.set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith("/files/"):
            with self._lock:
                self.downloads += 1
                hold = self._free is not None and self.downloads > self._free
                if hold:
                    self.held += 1
            if hold:
                self._released.wait(timeout=300)
        return self.app(environ, start_response)


class Receiver:
    """A team's webhook receiver on loopback: records each POST (verified with the team's
    secret, Standard Webhooks); ``stop`` closes the port (connection refused), ``start`` opens
    it again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        from standardwebhooks.webhooks import Webhook

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    verified = True
                except Exception:
                    verified = False
                receiver.received.append(
                    {
                        "id": self.headers.get("webhook-id"),
                        "verified": verified,
                        "task_id": json.loads(body).get("data", {}).get("task_id"),
                    }
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
