"""Queue health for staff: RQ's registries and workers per queue, and stemweb's own job counts."""

from __future__ import annotations

import statistics
from datetime import UTC, timedelta

import django_rq
from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from jobs.models import SeparationJob
from jobs.providers import PROVIDERS


def _queue_row(name: str) -> dict[str, object]:
    queue = django_rq.get_queue(name)
    oldest_age = None
    first = queue.get_job_ids(0, 0)
    if first and (job := queue.fetch_job(first[0])) and job.enqueued_at:
        enqueued = job.enqueued_at
        if enqueued.tzinfo is None:  # RQ keeps naive UTC
            enqueued = enqueued.replace(tzinfo=UTC)
        oldest_age = (timezone.now() - enqueued).total_seconds()
    return {
        "name": name,
        "waiting": queue.count,
        "running": StartedJobRegistry(queue=queue).count,
        "failed": FailedJobRegistry(queue=queue).count,
        "scheduled": ScheduledJobRegistry(queue=queue).count,
        "workers": len(Worker.all(queue=queue)),
        "oldest_age_s": oldest_age,
    }


def queue_health(request: HttpRequest) -> HttpResponse:
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
        durations.setdefault(provider, []).append((ended - started).total_seconds())
    slowest = sorted(
        (
            {
                "provider": PROVIDERS[p].label if p in PROVIDERS else p,
                "median_s": statistics.median(v),
                "jobs": len(v),
            }
            for p, v in durations.items()
        ),
        key=lambda row: -row["median_s"],
    )
    context = {
        **admin.site.each_context(request),
        "title": "Queue health",
        "queues": [_queue_row(name) for name in settings.RQ_QUEUES],
        "statuses": [
            (label, by_status.get(value, 0)) for value, label in SeparationJob.Status.choices
        ],
        "slowest": slowest,
    }
    return render(request, "admin/queue_health.html", context)
