"""``manage.py checker_alive``: the checker container's liveness probe (exit 0 or 1, one line)."""

from __future__ import annotations

from stemweb.health import checker_alive
from stemweb.management.probe import ProbeCommand


class Command(ProbeCommand):
    help = (
        "Exit 0 when a checker (manage.py checker) registered from this host, its process "
        "running here, beat in Redis in the last minute; else exit 1 with the reason."
    )
    probe = staticmethod(checker_alive)
