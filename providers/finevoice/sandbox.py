"""FineVoice audio separation, as ../shared/specs/PROVIDERS.md and seed 003 shape it.

Bearer auth; ``POST /v1/audio/separation`` with ``sourceUrl``, which the sandbox downloads
itself like the real service; answers ``{"status": 202|200, "taskId", "url", "urls", "error",
"service", "port", "timestamp"}``. Stems come back in ``urls`` in the model's order below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from providers.sandboxing.common import file_url, json_body, request_fault, sandbox, start_split
from providers.sandboxing.state import Task

PROVIDER = "finevoice"
MODEL_STEMS = {
    "vocal-remover": ("vocals", "instrumental"),
    "htdemucs_6s-4": ("vocals", "drums", "bass", "guitar", "piano", "other"),
    "reverb": ("dry", "reverb"),
}


def _answer(
    request: HttpRequest, status: int, http_status: int | None = None, **fields: object
) -> JsonResponse:
    """The AudioTaskResponse shape; the HTTP status follows ``status`` unless given."""
    body = {
        "status": status,
        "url": "",
        "urls": [],
        "taskId": "",
        "error": None,
        "service": "finevoice-sandbox",
        "port": str(request.get_port()),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    body.update(fields)
    return JsonResponse(body, status=http_status or (status if status >= 400 else 200))


def _error(status: int, message: str) -> dict:
    return {"status": status, "error": {"code": str(status), "message": message}}


def _guard(request: HttpRequest) -> HttpResponse | None:
    if request.headers.get("authorization") != f"Bearer {sandbox().api_key}":
        return _answer(request, 401, error={"code": "UNAUTHORIZED", "message": "Invalid API key"})
    return request_fault(PROVIDER, _error)


@csrf_exempt
@require_POST
def separate(request: HttpRequest) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    body = json_body(request)
    if body is None:
        return _answer(request, 422, error={"code": "VALIDATION", "message": "Body must be JSON"})
    source_url, model = body.get("sourceUrl"), body.get("model")
    if not isinstance(source_url, str) or urlsplit(source_url).scheme not in {"http", "https"}:
        return _answer(
            request,
            422,
            error={"code": "VALIDATION", "message": "sourceUrl must be an http(s) URL"},
        )
    if model not in MODEL_STEMS:
        return _answer(
            request, 422, error={"code": "VALIDATION", "message": f"Unsupported model {model!r}"}
        )
    sb = sandbox()
    task = sb.add_task(Task(PROVIDER, model, faults=sb.take_task_faults(PROVIDER)))

    def fetch_source():
        target = sb.files / task.id / "source"
        target.parent.mkdir(parents=True, exist_ok=True)
        with httpx.stream("GET", source_url, timeout=60, follow_redirects=True) as response:
            if response.status_code != 200:
                raise RuntimeError(f"could not download sourceUrl: HTTP {response.status_code}")
            with open(target, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        return target

    start_split(task, fetch_source, MODEL_STEMS[model])
    return _answer(request, 202, taskId=task.id)


@require_GET
def task_status(request: HttpRequest, task_id: str) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    task = sandbox().tasks.get(task_id)
    if task is None or task.provider != PROVIDER:
        return _answer(request, 404, error={"code": "NOT_FOUND", "message": "Task not found"})
    if task.status == "failed":
        return _answer(
            request,
            500,
            http_status=200,
            taskId=task.id,
            error={"code": "TASK_FAILED", "message": task.error},
        )
    if task.status != "done":
        return _answer(request, 202, taskId=task.id)
    urls = [file_url(request, task, name) for name in MODEL_STEMS[task.kind]]
    return _answer(request, 200, taskId=task.id, url=urls[0], urls=urls)


urlpatterns = [
    path("finevoice/v1/audio/separation", separate),
    path("finevoice/v1/task/<str:task_id>", task_status),
]
