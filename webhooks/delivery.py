"""Outgoing webhooks: when a job ends, POST its payload (:mod:`webhooks.payload`) to the team's
URL, with retries.

Requests are
signed with the team's secret per Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), time out after 15 s, and
are retried after 1, 5 and 15 minutes. Every attempt is a ``WebhookDelivery`` row.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from jobs import queues
from jobs.models import SeparationJob
from jobs.services.recovery import grace
from stemweb.lib import netguard
from webhooks.models import WebhookDelivery
from webhooks.payload import webhook_payload

RETRY_DELAYS_S = (60, 300, 900)
Outcome = WebhookDelivery.Outcome


def webhook_enqueue(*, job_id: str) -> WebhookDelivery | None:
    """Queue the first delivery for an ended job, if its team has a webhook."""
    job = SeparationJob.objects.select_related("project__team").get(pk=job_id)
    team = job.project.team
    if not team.webhook_url or not job.is_terminal:
        return None
    delivery = WebhookDelivery.objects.create(
        team=team,
        job=job,
        message_id=f"msg_{uuid.uuid4().hex}",
        url=team.webhook_url,
    )
    _enqueue(delivery, delay_s=0)
    return delivery


def _delay_before(attempt: int) -> float:
    """Seconds between an attempt's row being made and its POST: none for the first, then the
    1/5/15-minute schedule times ``STEMWEB_WEBHOOK_RETRY_SCALE``."""
    if attempt == 1:
        return 0.0
    return RETRY_DELAYS_S[attempt - 2] * settings.STEMWEB_WEBHOOK_RETRY_SCALE


def _enqueue(delivery: WebhookDelivery, delay_s: float) -> None:
    queues.enqueue(queues.DELIVER_WEBHOOK, delivery.pk, delay_s=delay_s, on_commit=False)


def webhook_deliver(*, delivery_id: int) -> None:
    """Make one attempt; on failure schedule the next (after 1, 5, 15 minutes) or give up."""
    attempted_at = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, outcome=Outcome.PENDING).update(
        outcome=Outcome.SENDING,  # a re-delivered task finds it claimed and does nothing
        attempted_at=attempted_at,
    )
    if not claimed:
        return
    delivery = WebhookDelivery.objects.select_related("team", "job__project").get(pk=delivery_id)
    body = json.dumps(webhook_payload(delivery.job), separators=(",", ":"))
    started = time.monotonic()
    status_code, error = None, ""
    try:
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
        status_code = netguard.post(  # pinned to the checked address, redirects not followed
            delivery.url,
            content=body.encode(),
            headers=headers,
            timeout_s=settings.STEMWEB_WEBHOOK_TIMEOUT_S,
            allow_hosts=settings.STEMWEB_WEBHOOK_ALLOW_HOSTS,
        )
        delivered = 200 <= status_code < 300
        if not delivered:
            error = f"answered HTTP {status_code}"
    except netguard.BlockedURL as exc:
        delivered, error = False, str(exc)
    except netguard.DownloadError as exc:
        delivered, error = False, str(exc)
    delivery.status_code, delivery.error = status_code, error
    delivery.duration_ms = round((time.monotonic() - started) * 1000)
    if delivered:
        delivery.outcome = Outcome.DELIVERED
    elif delivery.attempt <= len(RETRY_DELAYS_S):
        delay = _delay_before(delivery.attempt + 1)
        delivery.outcome = Outcome.RETRYING
        delivery.next_attempt_at = attempted_at + timedelta(seconds=delay)
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


def webhooks_recover(*, held: set[tuple[str, str]]) -> dict[str, int]:
    """Deliveries with no task in RQ: a pending one past due by ``STEMWEB_RECOVERY_GRACE_S``
    (Redis restarted empty) is handed to RQ again; one left ``sending`` by a worker that died
    is sent again (receivers tell repeats apart by ``webhook-id``)."""
    late = timezone.now() - grace()
    requeued = 0
    sending_since = late - timedelta(seconds=settings.STEMWEB_WEBHOOK_TIMEOUT_S)
    stale = WebhookDelivery.objects.filter(
        Q(outcome=Outcome.PENDING, created__lt=late)  # due at creation or later
        | Q(outcome=Outcome.SENDING, attempted_at__lt=sending_since)
    )
    for delivery in stale:
        if (queues.DELIVER_WEBHOOK, str(delivery.pk)) in held:
            continue
        due = delivery.created + timedelta(seconds=_delay_before(delivery.attempt))
        if delivery.outcome == Outcome.PENDING and due >= late:
            continue  # a retry not due yet
        moved = WebhookDelivery.objects.filter(
            pk=delivery.pk, outcome=delivery.outcome, attempted_at=delivery.attempted_at
        ).update(outcome=Outcome.PENDING)
        if moved:
            _enqueue(delivery, delay_s=0)
            requeued += 1
    return {"webhooks requeued": requeued}
