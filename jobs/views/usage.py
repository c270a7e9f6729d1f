"""A team's usage this month: jobs and cost per provider and unit."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import render

from accounts.access import AuthenticatedHttpRequest, current_membership
from jobs.models import SeparationJob
from jobs.services import month_start, team_usage
from providers.registry import provider_label

NOT_COUNTED = {
    SeparationJob.Status.FAILED,
    SeparationJob.Status.TIMED_OUT,
    SeparationJob.Status.CANCELED,
}


@login_required
def team_usage_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    team = current_membership(request).team
    since = month_start()
    by_provider = (
        SeparationJob.objects.filter(project__team=team, created__gte=since)
        .values("provider", "cost_unit", "status")
        .order_by("provider")
    )
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for row in by_provider.annotate(total=Sum("cost"), jobs=Count("id")):
        entry = rows.setdefault((row["provider"], row["cost_unit"]), {"jobs": 0, "counted": 0.0})
        entry["jobs"] += row["jobs"]
        if row["status"] not in NOT_COUNTED:
            entry["counted"] += row["total"] or 0.0
    return render(
        request,
        "jobs/team_usage.html",
        {
            "team": team,
            "since": since,
            "usage": team_usage(team=team),
            "rows": [{"provider": provider_label(p), "unit": u, **v} for (p, u), v in rows.items()],
        },
    )
