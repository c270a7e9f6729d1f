"""RQ entry points for webhooks. Thin: take an id, call a service (named in ``jobs.queues``)."""

from __future__ import annotations

from webhooks import delivery


def deliver_webhook(delivery_id: int) -> None:
    """One attempt to POST an ended job to its team's webhook."""
    delivery.webhook_deliver(delivery_id=delivery_id)
