from django.contrib import admin
from django.urls import include, path

from jobs.views.queues import queue_health

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/queues/", admin.site.admin_view(queue_health), name="queue_health"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("library.urls")),
    path("", include("jobs.urls")),
    path("", include("downloads.urls")),
    path("", include("webhooks.urls")),
]
