from collections.abc import Callable
from functools import wraps
from typing import Any

import django_rq.urls
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, include, path

from jobs.access import OPERATE_PERMISSION
from jobs.views.queues import queue_health


def _operators_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django-rq's pages can requeue, delete and empty queues: staff need the same permission
    as the job actions. Anyone not staff goes on to django-rq's own check (the admin login)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_staff and not request.user.has_perm(OPERATE_PERMISSION):
            raise PermissionDenied("The queues need the permission to operate jobs.")
        return view(request, *args, **kwargs)

    return guarded


rq_patterns = [
    URLPattern(p.pattern, _operators_only(p.callback), p.default_args, p.name)
    for p in django_rq.urls.urlpatterns
    if isinstance(p, URLPattern)
]

urlpatterns = [
    path("admin/rq/", include((rq_patterns, django_rq.urls.app_name))),
    path("admin/queues/", admin.site.admin_view(queue_health), name="queue_health"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("library.urls")),
    path("", include("jobs.urls")),
    path("", include("downloads.urls")),
    path("", include("webhooks.urls")),
    path("", include("notifications.urls")),
    path("", include("api.urls")),
]
