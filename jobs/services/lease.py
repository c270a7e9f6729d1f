"""Leases: which worker is moving a job right now, and proof that it is still alive.

A worker claims a job with a conditional update that writes a random token and a lapse time
(``STEMWEB_LEASE_S`` ahead). While it works, a thread renews the lease and the job's heartbeat
every ``STEMWEB_LEASE_S / 6`` seconds (5 s by default), whatever the work is doing (loading
models, a long decode, an upload to S3). A worker killed by SIGKILL stops renewing, so its lease
lapses within ``STEMWEB_LEASE_S`` and recovery (:mod:`jobs.services.recovery`) takes the job
back. Only one worker holds a lease, so a callback and a poll, or two workers, never submit or
collect the same job twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from jobs.models import SeparationJob

log = logging.getLogger(__name__)
Status = SeparationJob.Status


def lease_seconds() -> float:
    return float(settings.STEMWEB_LEASE_S)


def job_claim(job_id: str, *, where_status: str = Status.RUNNING, **changes: Any) -> str | None:
    """Claim the job if it is in ``where_status`` and nobody holds a live lease on it.

    ``changes`` are written in the same update (``status=RUNNING`` when claiming a queued
    job). Returns the lease token, or None when the job was not claimable.
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    claimed = (
        SeparationJob.objects.filter(pk=job_id, status=where_status)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=lease_seconds()),
            heartbeat=now,
            **changes,
        )
    )
    return token if claimed else None


def job_release(job_id: str, token: str) -> None:
    """Give the lease up (the work is done, or its next step is scheduled)."""
    SeparationJob.objects.filter(pk=job_id, lease_token=token).update(
        lease_token="", lease_until=None
    )


def _renew(job_id: str, token: str) -> bool:
    now = timezone.now()
    return bool(
        SeparationJob.objects.filter(pk=job_id, lease_token=token).update(
            lease_until=now + timedelta(seconds=lease_seconds()), heartbeat=now
        )
    )


@contextmanager
def lease_kept(job_id: str, token: str) -> Iterator[None]:
    """Renew the lease from a daemon thread while the body runs; release it afterwards."""
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat, args=(job_id, token, stop), name=f"lease-{job_id}", daemon=True
    )
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=1)
        job_release(job_id, token)


def _beat(job_id: str, token: str, stop: threading.Event) -> None:
    try:
        while not stop.wait(lease_seconds() / 6):
            try:
                if not _renew(job_id, token):
                    return  # released, or taken back by recovery
            except DatabaseError:
                log.warning("could not renew the lease of job %s", job_id, exc_info=True)
                # Django never reopens a dropped connection by itself (the database restarted,
                # its connections were terminated): without this every renewal would fail, the
                # lease would lapse under a live worker, and recovery would hand the job to a
                # second one. The next renewal opens a new connection.
                connection.close()
    finally:
        connection.close()  # this thread's own connection
