from django.contrib import admin

from jobs.models import Folder, Project, SeparationJob, Stem


class StemInline(admin.TabularInline):
    model = Stem
    extra = 0
    can_delete = False
    readonly_fields = [
        "name",
        "file",
        "format",
        "duration_s",
        "sample_rate",
        "channels",
        "size_bytes",
    ]


@admin.register(SeparationJob)
class SeparationJobAdmin(admin.ModelAdmin):
    list_display = ["project", "provider", "stem_set", "status", "progress", "created", "finished"]
    list_filter = ["status", "provider", "stem_set", "created"]
    search_fields = ["project__name", "provider_task_id", "created_by__email"]
    date_hierarchy = "created"
    list_select_related = ["project"]
    readonly_fields = [f.name for f in SeparationJob._meta.fields]
    inlines = [StemInline]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "container", "duration_s", "sample_rate", "created"]
    list_filter = ["container", "created"]
    search_fields = ["name", "original_filename", "sha256", "team__name"]
    list_select_related = ["team"]


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "parent", "created"]
    search_fields = ["name", "team__name"]
