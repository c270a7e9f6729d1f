"""Outgoing webhook deliveries: one row per attempt to tell a team's URL that a job ended."""

from __future__ import annotations

from django.db import models

from accounts.models import Team
from jobs.models import SeparationJob


class WebhookDelivery(models.Model):
    """One attempt to POST a finished job to its team's webhook (Suno-style payload)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Will retry"
        FAILED = "failed", "Failed"

    team = models.ForeignKey(Team, models.CASCADE, related_name="webhook_deliveries")
    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="webhook_deliveries")
    message_id = models.CharField(max_length=64)  # webhook-id: the same for every attempt
    attempt = models.PositiveSmallIntegerField(default=1)
    url = models.URLField(max_length=500)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)  # when the POST was made
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # when its retry is due

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.url} #{self.attempt}: {self.outcome}"
