"""What the sandbox's provider views share: the current sandbox, faults, work, files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse

from providers.sandboxing.state import SLOW_S, Sandbox, Task, log
from providers.sandboxing.stems import split

_current: Sandbox | None = None


def install(sandbox: Sandbox) -> None:
    global _current
    _current = sandbox


def sandbox() -> Sandbox:
    if _current is None:
        raise RuntimeError("no sandbox is installed (start one with sandbox.server.serve)")
    return _current


def request_fault(
    provider: str, error_body: Callable[[int, str], dict[str, Any]]
) -> HttpResponse | None:
    """Answer with the provider's armed request fault, if one is armed; None to go on.

    A ``slow`` fault sleeps past the client's read timeout, then lets the request go on.
    """
    fault = sandbox().take_request_fault(provider)
    if fault == "rate_limit":
        response = JsonResponse(error_body(429, "Too many requests"), status=429)
        response["Retry-After"] = "1"
        return response
    if fault == "server_error":
        return JsonResponse(error_body(500, "Internal server error"), status=500)
    if fault == "malformed":
        return HttpResponse('{"status": "SUCC', content_type="application/json")
    if fault == "slow":
        time.sleep(SLOW_S)
    return None


def json_body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def start_split(
    task: Task,
    source: Callable[[], Path],
    names: Sequence[str],
    then: Callable[[Task], None] | None = None,
) -> None:
    """Run the split on the pool: ``source()`` gives the mixture (it may download it)."""

    def work() -> None:
        try:
            if "task_error" in task.faults:
                raise RuntimeError("the separation model failed on this input")
            task.stems = split(source(), names, sandbox().files / task.id)
            task.status = "done"
        except Exception as exc:
            log.info("sandbox task %s failed: %s", task.id, exc)
            task.status, task.error = "failed", str(exc) or type(exc).__name__
        if then is not None:
            then(task)

    sandbox().pool.submit(work)


def file_url(request: HttpRequest, task: Task, name: str) -> str:
    """Where the task's stem ``name`` can be downloaded (or, under a fault, cannot)."""
    if "result_private" in task.faults:
        return f"http://169.254.169.254/latest/{task.id}/{name}.flac"
    missing = "missing-" if "result_404" in task.faults else ""
    return request.build_absolute_uri(f"/files/{task.id}/{missing}{name}.flac")


def serve_file(request: HttpRequest, task_id: str, name: str) -> FileResponse:
    task = sandbox().tasks.get(task_id)
    path = None
    if task is not None:
        path = task.origin if name == "origin" else task.stems.get(name)
    if path is None or not path.exists():
        raise Http404("no such file")
    return FileResponse(open(path, "rb"), content_type="audio/flac")
