"""Webhook deliveries in the admin: every attempt, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from webhooks.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created",
        "team",
        "job",
        "attempt",
        "outcome",
        "status_code",
        "duration_ms",
        "url",
    ]
    list_filter = ["outcome", "created"]
    search_fields = ["team__name", "url", "message_id", "job__project__name"]
    list_select_related = ["team", "job__project"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
