"""Outgoing webhooks: when a job ends, POST a Suno-style payload to the team's URL.

Payload (the shape of ../shared/specs/PROVIDERS.md's Suno-style callbacks, so receivers built for
that API work unchanged)::

    {"code": 200, "msg": "success",
     "data": {"task_id": "<job id>", "status": "succeeded", "project": "<name>",
              "stem_set": "vocals_instrumental",
              "vocal_removal_info": {"<stem>_url": "<signed, expiring link>", ...}}}

A failed or timed-out job sends ``code`` 500 or 504 and the reason as ``msg``. Requests are
signed with the team's secret per Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), time out after 15 s, and
are retried after 1, 5 and 15 minutes. Every attempt is a ``WebhookDelivery`` row.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import django_rq
import httpx
from django.conf import settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from jobs import signing
from jobs.models import SeparationJob, WebhookDelivery
from stemweb.lib import netguard

RETRY_DELAYS_S = (60, 300, 900)
Outcome = WebhookDelivery.Outcome
_CODES = {"succeeded": 200, "failed": 500, "timed_out": 504, "canceled": 499}


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_payload(job: SeparationJob) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": str(job.pk),
        "status": job.status,
        "project": job.project.name,
        "stem_set": job.stem_set,
    }
    if job.status == SeparationJob.Status.SUCCEEDED:
        data["vocal_removal_info"] = {
            f"{stem.name}_url": signing.stem_url(stem) for stem in job.stems.all()
        }
    code = _CODES.get(job.status, 500)
    return {"code": code, "msg": "success" if code == 200 else job.error, "data": data}


def webhook_enqueue(*, job_id: str) -> WebhookDelivery | None:
    """Queue the first delivery for an ended job, if its team has a webhook."""
    job = SeparationJob.objects.select_related("project__team").get(pk=job_id)
    team = job.project.team
    if not team.webhook_url or not job.is_terminal:
        return None
    delivery = WebhookDelivery.objects.create(
        team=team, job=job, message_id=f"msg_{uuid.uuid4().hex}", url=team.webhook_url
    )
    _enqueue(delivery, delay_s=0)
    return delivery


def _enqueue(delivery: WebhookDelivery, delay_s: float) -> None:
    from jobs.tasks import deliver_webhook

    queue = django_rq.get_queue("default")
    if delay_s <= 0:
        queue.enqueue(deliver_webhook, delivery.pk, failure_ttl=7 * 86400)
    else:
        queue.enqueue_in(
            timedelta(seconds=delay_s), deliver_webhook, delivery.pk, failure_ttl=7 * 86400
        )


def webhook_deliver(*, delivery_id: int) -> None:
    """Make one attempt; on failure schedule the next (after 1, 5, 15 minutes) or give up."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, outcome=Outcome.PENDING).update(
        outcome=Outcome.SENDING  # a re-delivered task finds it claimed and does nothing
    )
    if not claimed:
        return
    delivery = WebhookDelivery.objects.select_related("team", "job__project").get(pk=delivery_id)
    body = json.dumps(webhook_payload(delivery.job), separators=(",", ":"))
    delivery.attempted_at = timezone.now()
    started = time.monotonic()
    status_code, error = None, ""
    try:
        netguard.check_url(delivery.url, settings.STEMWEB_FETCH_ALLOW_HOSTS)
        now = timezone.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(math.floor(now.timestamp())),  # what sign() signs
            "webhook-signature": Webhook(delivery.team.webhook_secret).sign(
                delivery.message_id, now, body
            ),
            "user-agent": "stemweb-webhooks",
        }
        response = httpx.post(
            delivery.url,
            content=body,
            headers=headers,
            timeout=settings.STEMWEB_WEBHOOK_TIMEOUT_S,
            follow_redirects=False,
        )
        status_code = response.status_code
        delivered = response.is_success
        if not delivered:
            error = f"answered HTTP {status_code}"
    except netguard.BlockedURL as exc:
        delivered, error = False, str(exc)
    except httpx.HTTPError as exc:
        delivered, error = False, f"{type(exc).__name__}: {exc}"[:500]
    delivery.status_code, delivery.error = status_code, error
    delivery.duration_ms = round((time.monotonic() - started) * 1000)
    if delivered:
        delivery.outcome = Outcome.DELIVERED
    elif delivery.attempt <= len(RETRY_DELAYS_S):
        delay = RETRY_DELAYS_S[delivery.attempt - 1] * settings.STEMWEB_WEBHOOK_RETRY_SCALE
        delivery.outcome = Outcome.RETRYING
        delivery.next_attempt_at = delivery.attempted_at + timedelta(seconds=delay)
        retry = WebhookDelivery.objects.create(
            team=delivery.team,
            job=delivery.job,
            message_id=delivery.message_id,
            attempt=delivery.attempt + 1,
            url=delivery.url,
        )
        _enqueue(retry, delay_s=delay)
    else:
        delivery.outcome = Outcome.FAILED
    delivery.save()
