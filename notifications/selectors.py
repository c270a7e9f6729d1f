"""The jobs a person started that ended lately: what their open pages notify them of."""

from __future__ import annotations

from datetime import datetime, timedelta

from accounts.models import User
from jobs.models import SeparationJob
from notifications.summary import TOLD

# A job's end is committed moments after its ``finished`` time is stamped: reading only ends
# at least this old never passes over one whose transaction is still open.
SETTLE = timedelta(seconds=3)
# A cursor older than this (a laptop that slept, a tab opened after a week) counts as this old:
# notifications are for what just happened.
LOOKBACK = timedelta(minutes=15)
LIMIT = 20


def jobs_ended_since(
    *, user: User, since: datetime | None, now: datetime
) -> tuple[datetime, list[SeparationJob]]:
    """``(until, jobs)``: the jobs ``user`` created, in teams they still belong to, that
    succeeded, failed or timed out after ``since`` and by ``until`` (``now`` less ``SETTLE``),
    the latest ``LIMIT``, oldest first; ``until`` is the caller's next ``since``.

    Without ``since`` there are no jobs, only ``until``. One query, on the index of
    ``(created_by, finished)``, with each job's project and team.
    """
    until = now - SETTLE
    if since is None:
        return until, []
    since = max(since, until - LOOKBACK)
    latest = (
        SeparationJob.objects.filter(
            created_by=user,
            project__team__memberships__user=user,
            status__in=TOLD,
            finished__gt=since,
            finished__lte=until,
        )
        .select_related("project__team")
        .only(  # what the wording reads (notifications.summary), not the provider's JSON
            "status",
            "error",
            "provider",
            "stem_set",
            "review_state",
            "finished",
            "project__name",
            "project__team__requires_review",
        )
        .order_by("-finished")[:LIMIT]
    )
    return until, list(reversed(latest))
