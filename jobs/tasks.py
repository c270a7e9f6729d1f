"""RQ entry points. Thin: take an id, call a service."""

from __future__ import annotations

from jobs import services, webhooks


def run_job(job_id: str) -> None:
    """Run one attempt of a separation job (see ``services.job_run``)."""
    services.job_run(job_id=job_id)


def check_job(job_id: str) -> None:
    """Poll a running job's provider, or collect its stems (see ``services.job_check``)."""
    services.job_check(job_id=job_id)


def deliver_webhook(delivery_id: int) -> None:
    """One attempt to POST an ended job to its team's webhook (see ``webhooks``)."""
    webhooks.webhook_deliver(delivery_id=delivery_id)


def render_stem(rendition_id: int) -> None:
    """Convert a stem to a download format (see ``renditions``)."""
    from jobs.renditions import render_rendition

    render_rendition(rendition_id=rendition_id)


def render_mix(mix_id: int) -> None:
    """Render a custom mix (see ``renditions``)."""
    from jobs.renditions import render_custom_mix

    render_custom_mix(mix_id=mix_id)
