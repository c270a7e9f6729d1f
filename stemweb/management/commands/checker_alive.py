"""``manage.py checker_alive``: the checker container's liveness probe (exit 0 or 1, one line)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from stemweb.health import checker_alive, redis_client


class Command(BaseCommand):
    help = (
        "Exit 0 when a checker (manage.py checker) registered from this host, its process "
        "running here, beat in Redis in the last minute; else exit 1 with the reason."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        alive, reason = checker_alive(connection=redis_client(settings.REDIS_URL))
        if not alive:
            raise CommandError(reason, returncode=1)
        self.stdout.write(reason)
