"""Queue health for staff: RQ's registries and workers per queue, and stemweb's own job counts."""

from __future__ import annotations

import statistics
from datetime import timedelta

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from jobs import queues
from jobs.access import require_staff
from jobs.models import SeparationJob
from providers.registry import provider_label


def queue_health(request: HttpRequest) -> HttpResponse:
    require_staff(request)
    since = timezone.now() - timedelta(hours=24)
    by_status = dict(
        SeparationJob.objects.filter(created__gte=since)
        .values_list("status")
        .annotate(n=Count("id"))
    )
    durations: dict[str, list[float]] = {}
    finished = (
        SeparationJob.objects.filter(
            status=SeparationJob.Status.SUCCEEDED,
            finished__gte=timezone.now() - timedelta(days=7),
            started__isnull=False,
        )
        .values_list("provider", "started", "finished")
        .order_by("-finished")[:2000]
    )
    for provider, started, ended in finished:
        assert started is not None and ended is not None  # both filtered on above
        durations.setdefault(provider, []).append((ended - started).total_seconds())
    medians = {p: statistics.median(v) for p, v in durations.items()}
    slowest = [
        {"provider": provider_label(p), "median_s": medians[p], "jobs": len(durations[p])}
        for p in sorted(medians, key=lambda p: -medians[p])
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Queue health",
        "queues": [queues.queue_stats(name, timezone.now()) for name in queues.QUEUES],
        "statuses": [
            (label, by_status.get(value, 0)) for value, label in SeparationJob.Status.choices
        ],
        "slowest": slowest,
    }
    return render(request, "admin/queue_health.html", context)
