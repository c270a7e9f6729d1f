"""Inbound provider callbacks and signed links for callers without a session."""

from __future__ import annotations

import json
import logging

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.crypto import constant_time_compare
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs import signing
from jobs.models import JobEvent, Project, SeparationJob, Stem
from jobs.providers.http import redact_text
from jobs.services import job_check_now
from jobs.serving import serve_audio

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def suno_callback(request: HttpRequest, job_id: str, token: str) -> HttpResponse:
    """Suno-style result callback (../shared/specs/PROVIDERS.md): store it, enqueue the work.

    404 for an unknown job or a wrong token (compared in constant time); 400 for a body that is
    not the provider's shape; 200 otherwise, and a repeated delivery changes nothing. Stems are
    never downloaded here: a worker does that.
    """
    job = SeparationJob.objects.filter(pk=job_id, provider="suno").first()
    if job is None or not constant_time_compare(token, job.callback_token):
        raise Http404("unknown callback")
    try:
        payload = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JsonResponse({"error": "body is not JSON"}, status=400)
    data = payload.get("data") if isinstance(payload, dict) else None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("code"), int)
        or not isinstance(data, dict)
    ):
        return JsonResponse({"error": "expected {code, msg, data}"}, status=400)
    if job.provider_task_id and data.get("task_id") not in (None, job.provider_task_id):
        return JsonResponse({"error": "task_id does not match this job"}, status=400)
    JobEvent.objects.create(
        job=job,
        kind=JobEvent.Kind.CALLBACK,
        method="POST",
        url=request.path.replace(token, "[token]"),
        status_code=payload["code"],
        excerpt=redact_text(request.body.decode("utf-8", "replace"), [token]),
    )
    first = SeparationJob.objects.filter(pk=job.pk, callback_payload__isnull=True).update(
        callback_payload=payload
    )
    if first and job.status == SeparationJob.Status.RUNNING:
        job_check_now(job=job)
    return JsonResponse({"received": True})


def signed_source(request: HttpRequest, token: str) -> HttpResponse:
    """A project's source behind a signed, expiring token (FineVoice's ``sourceUrl``)."""
    public_id = signing.unsign(token, signing.SOURCE_SALT)
    project = get_object_or_404(Project, public_id=public_id) if public_id else None
    if project is None or not project.source:
        raise Http404("link expired or invalid")
    name = f"{slugify(project.name) or 'project'}-mixture.{project.source.name.rsplit('.', 1)[-1]}"
    return serve_audio(request, project.source, filename=name, as_attachment=False)


def signed_stem(request: HttpRequest, token: str) -> HttpResponse:
    """A stem behind a signed, expiring token (links in outgoing webhooks)."""
    public_id = signing.unsign(token, signing.STEM_SALT)
    stem = (
        get_object_or_404(Stem.objects.select_related("job__project__team"), public_id=public_id)
        if public_id
        else None
    )
    if stem is None or stem.job.is_held:  # a held job's stems do not go out, even signed
        raise Http404("link expired or invalid")
    name = f"{slugify(stem.job.project.name) or 'project'}-{stem.name}.{stem.format}"
    return serve_audio(request, stem.file, filename=name, as_attachment=True)
