"""Re-enqueue jobs lost by a crash or restart; run it before starting workers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.services import jobs_recover


class Command(BaseCommand):
    help = "Requeue stale running jobs and enqueue queued jobs that Redis does not hold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-after",
            type=float,
            default=5.0,
            help="minutes without progress after which a running job counts as abandoned",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = jobs_recover(stale_after=timedelta(minutes=options["stale_after"]))
        self.stdout.write(
            f"recovered: {result.requeued} requeued, {result.failed} failed, "
            f"{result.enqueued} enqueued"
        )
