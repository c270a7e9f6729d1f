"""Inbound provider callbacks and signed links for callers without a session."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs.access import job_for_callback, project_for_signed_link, stem_for_signed_link
from jobs.models import JobEvent, SeparationJob
from jobs.services import job_check_now
from providers.base import CallbackError
from providers.http import redact_text
from providers.registry import get_provider
from stemweb.lib.serving import serve_audio
from stemweb.lib.storage import stored_extension

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def provider_callback(request: HttpRequest, provider: str, job_id: str, token: str) -> HttpResponse:
    """A provider's result callback: checked by the provider, stored, and the work enqueued.

    404 for an unknown job or a wrong token (compared in constant time); 400 for a body that is
    not the provider's shape (``Provider.parse_callback``); 200 otherwise, and a repeated
    delivery changes nothing. Stems are never downloaded here: a worker does that.
    """
    job = job_for_callback(provider, job_id, token)
    try:
        payload = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JsonResponse({"error": "body is not JSON"}, status=400)
    except RecursionError:  # nesting deeper than the parser's stack
        return JsonResponse({"error": "body is nested too deeply"}, status=400)
    try:
        code = get_provider(provider).parse_callback(payload, job.provider_task_id)
    except CallbackError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    job.record_event(
        kind=JobEvent.Kind.CALLBACK,
        method="POST",
        url=request.path.replace(token, "[token]"),
        status_code=code,
        excerpt=redact_text(request.body.decode("utf-8", "replace"), [token]),
    )
    first = SeparationJob.objects.filter(pk=job.pk, callback_payload__isnull=True).update(
        callback_payload=payload
    )
    if first and job.status == SeparationJob.Status.RUNNING:
        job_check_now(job=job)
    return JsonResponse({"received": True})


def signed_source(request: HttpRequest, token: str) -> HttpResponseBase:
    """A project's source behind a signed, expiring token (FineVoice's ``sourceUrl``)."""
    project = project_for_signed_link(token)
    name = f"{slugify(project.name) or 'project'}-mixture.{stored_extension(project.source)}"
    return serve_audio(request, project.source, filename=name, as_attachment=False)


def signed_stem(request: HttpRequest, token: str) -> HttpResponseBase:
    """A stem behind a signed, expiring token (links in outgoing webhooks)."""
    stem = stem_for_signed_link(token)
    name = f"{slugify(stem.job.project.name) or 'project'}-{stem.name}.{stem.format}"
    return serve_audio(request, stem.file, filename=name, as_attachment=True)
