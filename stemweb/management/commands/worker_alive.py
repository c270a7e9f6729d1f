"""``manage.py worker_alive``: the worker container's liveness probe (exit 0 or 1, one line)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from stemweb.health import redis_client, worker_alive


class Command(BaseCommand):
    help = (
        "Exit 0 when an RQ worker registered from this host, its process running here, has a "
        "heartbeat in Redis younger than its TTL; else exit 1 with the reason."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        alive, reason = worker_alive(connection=redis_client(settings.REDIS_URL))
        if not alive:
            raise CommandError(reason, returncode=1)
        self.stdout.write(reason)
