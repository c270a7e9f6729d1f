"""``manage.py checker``: poll the providers of remote jobs whose status check is due, until
SIGTERM or SIGINT (see ``jobs.checker``)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from jobs.checker import Checker


class Command(BaseCommand):
    help = (
        "Poll the providers of remote jobs whose status check is due, in a pool of threads, "
        "and hand finished ones to the RQ workers to collect. Runs until SIGTERM or SIGINT; "
        "several may run (one per host)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.STEMWEB_CHECKER_THREADS,
            help="checks at once (default: STEMWEB_CHECKER_THREADS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        Checker(options["threads"]).run(stop)
