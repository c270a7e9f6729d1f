"""``manage.py worker_alive``: the worker container's liveness probe (exit 0 or 1, one line)."""

from __future__ import annotations

from stemweb.health import worker_alive
from stemweb.management.probe import ProbeCommand


class Command(ProbeCommand):
    help = (
        "Exit 0 when an RQ worker registered from this host, its process running here, has a "
        "heartbeat in Redis younger than its TTL; else exit 1 with the reason."
    )
    probe = staticmethod(worker_alive)
