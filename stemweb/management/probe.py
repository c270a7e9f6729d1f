"""The liveness probe commands' one shape (``worker_alive``, ``cron_alive``, ``checker_alive``):
exit 0 printing why the process counts as alive, or 1 with the reason on one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from redis import Redis

from stemweb.health import redis_client


class ProbeCommand(BaseCommand):
    """A command that asks ``probe`` (one of ``stemweb.health``'s ``*_alive``) about this
    host, over the Redis of ``REDIS_URL``."""

    probe: Callable[..., tuple[bool, str]]

    def handle(self, *args: Any, **options: Any) -> None:
        connection: Redis = redis_client(settings.REDIS_URL)
        alive, reason = type(self).probe(connection=connection)
        if not alive:
            raise CommandError(reason, returncode=1)
        self.stdout.write(reason)
