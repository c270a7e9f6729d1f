"""``GET /jobs/ended/``: what static/js/notify.js polls, on every page of a signed-in person
whose browser lets stemweb notify."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import AuthenticatedHttpRequest
from notifications.selectors import jobs_ended_since
from notifications.summary import ended_detail, ended_title


@login_required
@require_GET
@never_cache
def jobs_ended(request: AuthenticatedHttpRequest) -> HttpResponse:
    """``?since=<ISO 8601 time with offset>`` (the last answer's ``now``; none at first) →
    ``{"now": "<ISO time>", "jobs": [{"id", "url", "status", "project", "title", "body"}]}``:
    the signed-in person's jobs that ended after ``since`` (see ``jobs_ended_since``). A
    ``since`` that is not such a time is 400 ``{"error": ...}``."""
    since = None
    if "since" in request.GET:
        try:
            since = parse_datetime(request.GET["since"])
        except ValueError:  # well formed, but no such time
            since = None
        if since is None or timezone.is_naive(since):
            return JsonResponse({"error": "since: an ISO 8601 time with its offset"}, status=400)
    until, jobs = jobs_ended_since(user=request.user, since=since, now=timezone.now())
    return JsonResponse(
        {
            "now": until.isoformat(),
            "jobs": [
                {
                    "id": str(job.pk),
                    "url": reverse("job_detail", args=[job.pk]),
                    "status": job.status,
                    "project": job.project.name,
                    "title": ended_title(job),
                    "body": ended_detail(job),
                }
                for job in jobs
            ],
        }
    )
