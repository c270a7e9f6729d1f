"""One recovery pass now: what the cron scheduler runs every minute (``stemweb/cron.py``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.services import jobs_reconcile


class Command(BaseCommand):
    help = (
        "Take back jobs whose worker died, reschedule lost checks, enqueue queued work Redis "
        "lost (jobs, renditions, mixes, webhook deliveries)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = jobs_reconcile()
        if result is None:
            self.stdout.write("recovery: another pass is running; nothing done")
        else:
            self.stdout.write(f"recovery: {result}")
