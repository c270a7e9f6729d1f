"""CAMB.AI audio separation, as ../shared/specs/PROVIDERS.md and seeds 000-002 shape it.

``x-api-key`` auth; FastAPI-style 422 ``{"detail": [{loc, msg, type}]}``; statuses PENDING,
SUCCESS (with ``run_id``) and ERROR (with ``exception_reason``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from providers.sandboxing.common import (
    file_url,
    json_body,
    request_fault,
    sandbox,
    start_split,
)
from providers.sandboxing.state import Task

PROVIDER = "camb"


def _error(status: int, message: str) -> dict:
    return {"detail": message}


def _invalid(field: str, message: str, kind: str = "value_error") -> JsonResponse:
    return JsonResponse(
        {"detail": [{"loc": ["body", field], "msg": message, "type": kind}]}, status=422
    )


def _guard(request: HttpRequest) -> HttpResponse | None:
    if request.headers.get("x-api-key") != sandbox().api_key:
        return JsonResponse({"detail": "Invalid or missing API key"}, status=401)
    return request_fault(PROVIDER, _error)


@csrf_exempt
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    media = request.FILES.get("media_file")
    if media is None:
        return _invalid("media_file", "Field required", "missing")
    for field, low, high in (("project_name", 3, 255), ("project_description", 3, 5000)):
        value = request.POST.get(field)
        if value is not None and not low <= len(value) <= high:
            return _invalid(field, f"String should have between {low} and {high} characters")
    folder_id = request.POST.get("folder_id")
    if folder_id not in (None, "") and not folder_id.lstrip("-").isdigit():
        return _invalid("folder_id", "Input should be a valid integer", "int_parsing")
    sb = sandbox()
    task = sb.add_task(
        Task(PROVIDER, "foreground_background", faults=sb.take_task_faults(PROVIDER))
    )
    assert media.name is not None  # Django's multipart parser skips files without a name
    source = sb.files / task.id / f"upload-{media.name.rsplit('/', 1)[-1]}"
    source.parent.mkdir(parents=True)
    with open(source, "wb") as out:
        for chunk in media.chunks():
            out.write(chunk)

    def assign_run(done: Task) -> None:
        if done.status == "done":
            done.run_id = sb.new_run_id(done)

    start_split(task, lambda: source, ["foreground", "background"], then=assign_run)
    return JsonResponse({"task_id": task.id})


@require_GET
def status(request: HttpRequest, task_id: str) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    task = sandbox().tasks.get(task_id)
    if task is None or task.provider != PROVIDER:
        return JsonResponse({"detail": "Task not found"}, status=404)
    body: dict[str, str | int | None]
    if task.status == "failed":
        body = {
            "status": "ERROR",
            "run_id": None,
            "exception_reason": task.error,
            "message": "Audio separation failed",
        }
    elif task.status == "done" and task.run_id is not None:
        body = {
            "status": "SUCCESS",
            "run_id": task.run_id,
            "exception_reason": None,
            "message": "Audio separation finished",
        }
    else:
        body = {
            "status": "PENDING",
            "run_id": None,
            "exception_reason": None,
            "message": "Task is in progress",
        }
    return JsonResponse(body)


@require_GET
def result(request: HttpRequest, run_id: int) -> HttpResponse:
    if refusal := _guard(request):
        return refusal
    task = sandbox().runs.get(run_id)
    if task is None:
        return JsonResponse({"detail": "Run not found"}, status=404)
    return JsonResponse(
        {
            "foreground_audio_url": file_url(request, task, "foreground"),
            "background_audio_url": file_url(request, task, "background"),
        }
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def folders(request: HttpRequest, action: str = "") -> HttpResponse:
    """``GET /folders`` lists folders; ``POST /folders/create`` with ``{name}`` adds one."""
    if refusal := _guard(request):
        return refusal
    sb = sandbox()
    if request.method == "GET" and not action:
        return JsonResponse(sb.folders, safe=False)
    body = json_body(request)
    if request.method != "POST" or action != "create" or not body or not body.get("name"):
        return _invalid("name", "Field required", "missing")
    folder = {"folder_id": len(sb.folders) + 1, "name": body["name"], "team_id": 1, "run_count": 0}
    sb.folders.append(folder)
    return JsonResponse(folder)


urlpatterns = [
    path("camb/apis/audio-separation", create),
    path("camb/apis/audio-separation/<str:task_id>", status),
    path("camb/apis/audio-separation-result/<int:run_id>", result),
    path("camb/apis/folders", folders),
    path("camb/apis/folders/<str:action>", folders),
]
