"""The emails that told a person a job they started ended."""

from __future__ import annotations

from django.db import models

from jobs.models import SeparationJob


class EndedJobEmail(models.Model):
    """One email to the person who started a job, telling them it ended: at most one per job
    and attempt (a job retried and ended again is told of again), so a hook or a task that
    runs twice sends nothing more. Written in the same transaction as the email is sent."""

    job = models.ForeignKey(SeparationJob, models.CASCADE, related_name="+")
    attempt = models.PositiveSmallIntegerField()
    to = models.EmailField()
    sent = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "attempt"], name="one_ended_email_per_attempt")
        ]

    def __str__(self) -> str:
        return f"{self.to}: job {self.job_id}, attempt {self.attempt}"
