"""Staff review of every job in the Django admin: find, inspect, act, audit.

Actions write an ``AuditEntry`` through the services (who, when, what, why). Approve and flag need
``jobs.review_separationjob``; retry, cancel, re-run and delete stems need
``jobs.operate_separationjob``. Provider API keys are never registered here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import F
from django.http import HttpRequest

from jobs.models import (
    AuditEntry,
    Folder,
    JobEvent,
    Project,
    SeparationJob,
    StemSet,
    WebhookDelivery,
)
from jobs.providers import PROVIDERS
from jobs.services import (
    JobRequestError,
    job_approve,
    job_cancel,
    job_delete_stems,
    job_flag,
    job_rerun,
    job_retry,
)


class JobActionForm(ActionForm):
    reason = forms.CharField(
        required=False, label="Reason / note", widget=forms.TextInput(attrs={"size": 40})
    )
    provider = forms.ChoiceField(
        required=False,
        label="Re-run with",
        choices=[("", "---")] + [(k, c.label) for k, c in PROVIDERS.items()],
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

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
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
        return f"{job.wall.total_seconds():.0f} s" if getattr(job, "wall", None) else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # read-only: staff act through the actions

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.review_separationjob")

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.operate_separationjob")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        job = SeparationJob.objects.select_related("project__team").filter(pk=object_id).first()
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

    def _each(self, request, queryset, act, done: str) -> None:  # type: ignore[no-untyped-def]
        count = 0
        for job in queryset.select_related("project__team"):
            try:
                count += bool(act(job))
            except JobRequestError as exc:
                self.message_user(request, f"{job}: {exc}", messages.ERROR)
        self.message_user(request, f"{done}: {count} of {queryset.count()} job(s).")

    def _reason(self, request) -> str:  # type: ignore[no-untyped-def]
        return request.POST.get("reason", "").strip()

    @admin.action(description="Approve the stems", permissions=["review"])
    def approve(self, request, queryset):  # type: ignore[no-untyped-def]
        self._each(
            request,
            queryset,
            lambda j: job_approve(job=j, actor=request.user, note=self._reason(request)),
            "Approved",
        )

    @admin.action(description="Flag the stems (give a reason)", permissions=["review"])
    def flag(self, request, queryset):  # type: ignore[no-untyped-def]
        self._each(
            request,
            queryset,
            lambda j: job_flag(job=j, actor=request.user, note=self._reason(request)),
            "Flagged",
        )

    @admin.action(
        description="Retry (resumes the provider task when there is one)", permissions=["operate"]
    )
    def retry(self, request, queryset):  # type: ignore[no-untyped-def]
        self._each(
            request,
            queryset,
            lambda j: job_retry(job=j, actor=request.user, reason=self._reason(request)),
            "Queued again",
        )

    @admin.action(description="Cancel", permissions=["operate"])
    def cancel(self, request, queryset):  # type: ignore[no-untyped-def]
        self._each(
            request,
            queryset,
            lambda j: job_cancel(job=j, actor=request.user, reason=self._reason(request)),
            "Canceled",
        )

    @admin.action(description="Re-run on the chosen provider", permissions=["operate"])
    def rerun(self, request, queryset):  # type: ignore[no-untyped-def]
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
    def delete_stems(self, request, queryset):  # type: ignore[no-untyped-def]
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

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "team",
        "folder",
        "container",
        "duration_s",
        "sample_rate",
        "created_by",
        "created",
    ]
    list_filter = ["container", "created", "team"]
    search_fields = ["name", "original_filename", "sha256", "team__name", "created_by__email"]
    list_select_related = ["team", "folder", "created_by"]
    date_hierarchy = "created"
    readonly_fields = [
        "public_id",
        "sha256",
        "size_bytes",
        "duration_s",
        "sample_rate",
        "channels",
        "container",
        "codec",
        "source",
    ]


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "parent", "camb_folder_id", "created"]
    search_fields = ["name", "team__name"]
    list_select_related = ["team", "parent"]


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
