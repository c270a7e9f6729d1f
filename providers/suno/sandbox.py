"""Suno-style vocal removal, as ../shared/specs/PROVIDERS.md and seed 004 shape it.

Bearer auth; the source is a platform track (``taskId`` + ``audioId``); answers
``{"code", "msg", "data"}``; the result arrives by callback to ``callBackUrl`` (retried after 1,
5 and 15 minutes, times the sandbox's ``callback_scale``), with ``record-info`` as the poll.
"""

from __future__ import annotations

import shutil
import threading
import time
from urllib.parse import urlsplit

import httpx
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from providers.sandboxing.common import file_url, json_body, request_fault, sandbox, start_split
from providers.sandboxing.state import Task, log
from providers.stemsets import StemSet
from providers.suno.client import STEM_KEYS, TYPES

PROVIDER = "suno"
# The provider's own stem names per type, in stemweb's order (the client maps them back).
_THEIRS = {ours: theirs for theirs, ours in STEM_KEYS.items()}
TYPE_STEMS = {
    kind: tuple(_THEIRS[name] for name in StemSet(stem_set).stem_names)
    for stem_set, kind in TYPES.items()
}
RETRY_AFTER_S = (60, 300, 900)


def _error(code: int, message: str) -> dict:
    return {"code": code, "msg": message, "data": None}


def _guard(request: HttpRequest) -> HttpResponse | None:
    if request.headers.get("authorization") != f"Bearer {sandbox().api_key}":
        return JsonResponse(_error(401, "Unauthorized: invalid API key"), status=401)
    return request_fault(PROVIDER, _error)


@csrf_exempt
@require_POST
def generate(request: HttpRequest) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    body = json_body(request) or {}
    task_id, audio_id = body.get("taskId"), body.get("audioId")
    kind, callback = body.get("type", "separate_vocal"), body.get("callBackUrl")
    if not task_id or not audio_id:
        return JsonResponse(_error(400, "taskId and audioId are required"), status=400)
    if kind not in TYPE_STEMS:
        return JsonResponse(_error(400, f"Unsupported type {kind!r}"), status=400)
    if not isinstance(callback, str) or urlsplit(callback).scheme not in {"http", "https"}:
        return JsonResponse(_error(400, "callBackUrl must be an http(s) URL"), status=400)
    sb = sandbox()
    track = sb.tracks.get((task_id, audio_id))
    if track is None:
        return JsonResponse(_error(404, "Track not found"), status=404)
    task = sb.add_task(
        Task(PROVIDER, kind, callback_url=callback, faults=sb.take_task_faults(PROVIDER))
    )
    task.origin = origin = sb.files / task.id / f"origin{track.suffix}"
    origin.parent.mkdir(parents=True)
    shutil.copyfile(track, origin)
    base_url = request.build_absolute_uri("/")
    start_split(task, lambda: origin, TYPE_STEMS[kind], then=lambda t: _call_back(t, base_url))
    return JsonResponse({"code": 200, "msg": "success", "data": {"taskId": task.id}})


def _urls(request_or_base, task: Task, style: str) -> dict[str, str]:
    """Stem URLs keyed ``vocal_url`` (callback, snake_case) or ``vocalUrl`` (record-info)."""
    urls = {"origin": _absolute(request_or_base, f"/files/{task.id}/origin.flac")}
    for name in TYPE_STEMS[task.kind]:
        urls[name] = _file(request_or_base, task, name)
    if style == "snake":
        return {f"{name}_url": url for name, url in urls.items()}
    return {_camel(f"{name}_url"): url for name, url in urls.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _absolute(request_or_base, path: str) -> str:
    if isinstance(request_or_base, str):
        return request_or_base.rstrip("/") + path
    return request_or_base.build_absolute_uri(path)


def _file(request_or_base, task: Task, name: str) -> str:
    if isinstance(request_or_base, str):
        if "result_private" in task.faults:
            return f"http://169.254.169.254/latest/{task.id}/{name}.flac"
        missing = "missing-" if "result_404" in task.faults else ""
        return _absolute(request_or_base, f"/files/{task.id}/{missing}{name}.flac")
    return file_url(request_or_base, task, name)


def _call_back(task: Task, base_url: str) -> None:
    if "no_callback" in task.faults:
        return
    if task.status == "done" and "callback_fails" not in task.faults:
        payload = {
            "code": 200,
            "msg": "vocal removal completed",
            "data": {"task_id": task.id, "vocal_removal_info": _urls(base_url, task, "snake")},
        }
    elif "callback_fails" in task.faults:
        task.status, task.error = "failed", "Source audio could not be downloaded"
        payload = {"code": 451, "msg": task.error, "data": {"task_id": task.id}}
    else:
        payload = {
            "code": 500,
            "msg": f"Separation failed: {task.error}",
            "data": {"task_id": task.id},
        }
    copies = 2 if "duplicate_callback" in task.faults else 1
    for _ in range(copies):
        _deliver(task, payload, attempt=0)


def _deliver(task: Task, payload: dict, attempt: int) -> None:
    sb = sandbox()
    outcome: int | str  # the status code, or the name of the error
    try:
        response = httpx.post(task.callback_url, json=payload, timeout=15)
        ok = response.is_success
        outcome = response.status_code
    except httpx.HTTPError as exc:
        ok, outcome = False, type(exc).__name__
    sb.callbacks_sent.append(
        {
            "task_id": task.id,
            "attempt": attempt,
            "outcome": outcome,
            "at": time.time(),
            "payload": payload,
        }
    )
    if not ok and attempt < len(RETRY_AFTER_S):
        delay = RETRY_AFTER_S[attempt] * sb.callback_scale
        log.info("sandbox callback for %s failed (%s); retry in %.1f s", task.id, outcome, delay)
        timer = threading.Timer(delay, _deliver, args=(task, payload, attempt + 1))
        timer.daemon = True
        timer.start()


@require_GET
def record_info(request: HttpRequest) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    task = sandbox().tasks.get(request.GET.get("taskId", ""))
    if task is None or task.provider != PROVIDER:
        return JsonResponse(_error(404, "Task not found"), status=404)
    flag = {"pending": "PENDING", "done": "SUCCESS", "failed": "GENERATE_AUDIO_FAILED"}[task.status]
    done = task.status == "done"
    return JsonResponse(
        {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": task.id,
                "musicId": task.id,
                "callbackUrl": task.callback_url,
                "completeTime": None,
                "createTime": None,
                "successFlag": flag,
                "errorCode": None if task.status != "failed" else 500,
                "errorMessage": task.error or None,
                "response": _urls(request, task, "camel") if done else None,
            },
        }
    )


urlpatterns = [
    path("suno/api/v1/vocal-removal/generate", generate),
    path("suno/api/v1/vocal-removal/record-info", record_info),
]
