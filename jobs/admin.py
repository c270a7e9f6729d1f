"""Staff review of every job in the Django admin: find, inspect, act, audit.

Actions write an ``AuditEntry`` through the services (who, when, what, why). Approve and flag need
``jobs.review_separationjob``; retry, cancel, re-run and delete stems need
``jobs.operate_separationjob``. Provider API keys are never registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.access import AuthenticatedHttpRequest
from jobs.models import AuditEntry, JobEvent, SeparationJob
from jobs.services import (
    JobRequestError,
    job_approve,
    job_cancel,
    job_delete_stems,
    job_flag,
    job_rerun,
    job_retry,
)
from providers.registry import provider_choices
from providers.stemsets import StemSet


class JobActionForm(ActionForm):
    reason = forms.CharField(
        required=False, label="Reason / note", widget=forms.TextInput(attrs={"size": 40})
    )
    provider = forms.ChoiceField(
        required=False,
        label="Re-run with",
        choices=[("", "---"), *provider_choices()],
    )
    stem_set = forms.ChoiceField(
        required=False, label="Stems", choices=[("", "same"), *StemSet.choices]
    )


@admin.register(SeparationJob)
class SeparationJobAdmin(admin.ModelAdmin):
    list_display = [
        "project",
        "team",
        "provider",
        "stem_set",
        "status",
        "review_state",
        "audio",
        "wall_time",
        "created",
    ]
    list_filter = ["status", "provider", "review_state", "project__team", "created"]
    search_fields = [
        "project__name",
        "provider_task_id",
        "created_by__email",
        "project__team__name",
    ]
    date_hierarchy = "created"
    list_select_related = ["project__team"]
    action_form = JobActionForm
    actions = ["approve", "flag", "retry", "cancel", "rerun", "delete_stems"]
    readonly_fields = [f.name for f in SeparationJob._meta.fields if f.name != "callback_token"]
    exclude = ["callback_token"]
    change_form_template = "admin/jobs/separationjob/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SeparationJob]:
        return super().get_queryset(request).annotate(wall=F("finished") - F("started"))

    @admin.display(description="team", ordering="project__team__name")
    def team(self, job: SeparationJob) -> str:
        return job.project.team.name

    @admin.display(description="audio", ordering="project__duration_s")
    def audio(self, job: SeparationJob) -> str:
        d = job.project.duration_s
        return f"{int(d // 60)}:{int(d % 60):02d}" if d else "—"

    @admin.display(description="wall time", ordering="wall")
    def wall_time(self, job: SeparationJob) -> str:
        wall = getattr(job, "wall", None)  # annotated by get_queryset
        return f"{wall.total_seconds():.0f} s" if wall else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SeparationJob | None = None) -> bool:
        return False  # read-only: staff act through the actions

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.review_separationjob")

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.operate_separationjob")

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = (  # None on the add page, as filter(pk=None) would find
            SeparationJob.objects.select_related("project__team").filter(pk=object_id).first()
            if object_id is not None
            else None
        )
        if job is not None:
            extra_context = {
                **(extra_context or {}),
                "job": job,
                "stems": job.stems.all(),
                "requests": job.events.filter(kind=JobEvent.Kind.REQUEST),
                "callbacks": job.events.filter(kind=JobEvent.Kind.CALLBACK),
                "deliveries": job.webhook_deliveries.all(),
                "audit": job.audit.select_related("actor"),
            }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[SeparationJob],
        act: Callable[[SeparationJob], object],
        done: str,
    ) -> None:
        count = 0
        for job in queryset.select_related("project__team"):
            try:
                count += bool(act(job))
            except JobRequestError as exc:
                self.message_user(request, f"{job}: {exc}", messages.ERROR)
        self.message_user(request, f"{done}: {count} of {queryset.count()} job(s).")

    def _reason(self, request: HttpRequest) -> str:
        return request.POST.get("reason", "").strip()

    @admin.action(description="Approve the stems", permissions=["review"])
    def approve(self, request: AuthenticatedHttpRequest, queryset: QuerySet[SeparationJob]) -> None:
        self._each(
            request,
            queryset,
            lambda j: job_approve(job=j, actor=request.user, note=self._reason(request)),
            "Approved",
        )

    @admin.action(description="Flag the stems (give a reason)", permissions=["review"])
    def flag(self, request: AuthenticatedHttpRequest, queryset: QuerySet[SeparationJob]) -> None:
        self._each(
            request,
            queryset,
            lambda j: job_flag(job=j, actor=request.user, note=self._reason(request)),
            "Flagged",
        )

    @admin.action(
        description="Retry (resumes the provider task when there is one)", permissions=["operate"]
    )
    def retry(self, request: AuthenticatedHttpRequest, queryset: QuerySet[SeparationJob]) -> None:
        self._each(
            request,
            queryset,
            lambda j: job_retry(job=j, actor=request.user, reason=self._reason(request)),
            "Queued again",
        )

    @admin.action(description="Cancel", permissions=["operate"])
    def cancel(self, request: AuthenticatedHttpRequest, queryset: QuerySet[SeparationJob]) -> None:
        self._each(
            request,
            queryset,
            lambda j: job_cancel(job=j, actor=request.user, reason=self._reason(request)),
            "Canceled",
        )

    @admin.action(description="Re-run on the chosen provider", permissions=["operate"])
    def rerun(self, request: AuthenticatedHttpRequest, queryset: QuerySet[SeparationJob]) -> None:
        provider = request.POST.get("provider", "")
        if not provider:
            self.message_user(request, "Choose the provider to re-run with.", messages.ERROR)
            return
        self._each(
            request,
            queryset,
            lambda j: job_rerun(
                job=j,
                actor=request.user,
                provider_key=provider,
                stem_set=request.POST.get("stem_set", ""),
                reason=self._reason(request),
            ),
            "Re-run",
        )

    @admin.action(description="Delete the stems (files too)", permissions=["operate"])
    def delete_stems(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[SeparationJob]
    ) -> None:
        self._each(
            request,
            queryset,
            lambda j: (
                job_delete_stems(job=j, actor=request.user, reason=self._reason(request)) >= 0
            ),
            "Stems deleted",
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created", "actor", "action", "job", "reason"]
    list_filter = ["action", "created"]
    search_fields = ["actor__email", "job__project__name", "reason"]
    list_select_related = ["actor", "job__project"]
    readonly_fields = ["job", "actor", "action", "reason", "details", "created"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
