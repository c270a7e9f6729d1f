"""Projects and folders in the admin: searchable, with audio facts read-only."""

from __future__ import annotations

from django.contrib import admin

from library.models import Folder, Project


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
