"""Folder and project housekeeping: create, rename, move and delete folders; rename, move and
delete a project; map a folder to CAMB.AI; delete a whole team; a project's source and its
waveform. The listing pages and the project page live in ``jobs.views`` (they show jobs)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.access import AuthenticatedHttpRequest, current_membership
from accounts.models import Membership
from accounts.services import CURRENT_TEAM_SESSION_KEY
from library.access import (
    can_edit,
    folder_for_user,
    parent_for_user,
    project_for_user,
    target_folder,
)
from library.models import Folder, Project
from library.services import (
    FolderError,
    ProjectError,
    file_count,
    folder_contents,
    folder_create,
    folder_delete,
    folder_move,
    folder_rename,
    project_rename,
    projects_delete,
    projects_move,
    team_delete,
)
from stemweb.lib.serving import serve_stored
from stemweb.lib.storage import stored_extension

Role = Membership.Role


def back_to(folder: Folder | None) -> HttpResponse:
    """A redirect to ``folder``'s page, or to the dashboard for the top level."""
    return (
        redirect("folder_detail", folder_id=folder.public_id) if folder else redirect("dashboard")
    )


@login_required
@require_POST
def folder_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    parent, membership = parent_for_user(request, request.POST.get("parent", ""), Role.ADMIN)
    team = membership.team
    try:
        created = folder_create(team=team, parent=parent, name=request.POST.get("name", ""))
    except FolderError as exc:
        messages.error(request, str(exc))
        return back_to(parent)
    return back_to(created)


@login_required
@require_POST
def folder_rename_view(request: AuthenticatedHttpRequest, folder_id: str) -> HttpResponse:
    folder, _ = folder_for_user(request, folder_id, Role.ADMIN)
    try:
        folder_rename(folder=folder, name=request.POST.get("name", ""))
    except FolderError as exc:
        messages.error(request, str(exc))
    return back_to(folder)


@login_required
@require_POST
def folder_move_view(request: AuthenticatedHttpRequest, folder_id: str) -> HttpResponse:
    folder, membership = folder_for_user(request, folder_id, Role.ADMIN)
    try:
        folder_move(folder=folder, parent=target_folder(membership, request.POST.get("parent", "")))
    except FolderError as exc:
        messages.error(request, str(exc))
    return back_to(folder)


@login_required
@require_POST
def folder_camb(request: AuthenticatedHttpRequest, folder_id: str) -> HttpResponse:
    folder, _ = folder_for_user(request, folder_id, Role.ADMIN)
    value = request.POST.get("camb_folder_id", "").strip()
    if value and not value.isdigit():
        messages.error(request, "A CAMB.AI folder id is a whole number.")
    else:
        folder.camb_folder_id = int(value) if value else None
        folder.save(update_fields=["camb_folder_id"])
        messages.success(
            request, "CAMB.AI folder mapping saved." if value else "CAMB.AI folder mapping removed."
        )
    return back_to(folder)


@login_required
def folder_delete_view(request: AuthenticatedHttpRequest, folder_id: str) -> HttpResponse:
    """An empty folder goes at once; a non-empty one after a confirmation saying what goes."""
    folder, _ = folder_for_user(request, folder_id, Role.ADMIN)
    contents = folder_contents(folder)
    empty = contents.folders == 0 and contents.projects == 0
    if request.method == "POST" and (empty or request.POST.get("confirm") == "yes"):
        parent = folder.parent
        folder_delete(folder=folder)
        messages.success(request, f"Folder “{folder.name}” deleted.")
        return back_to(parent)
    return render(request, "library/folder_delete.html", {"folder": folder, "contents": contents})


def _project_to_edit(
    request: AuthenticatedHttpRequest, project_id: str
) -> tuple[Project, Membership]:
    project, membership = project_for_user(request, project_id)
    if not can_edit(membership, project):
        raise PermissionDenied("You can change your own projects; admins can change any.")
    return project, membership


@login_required
@require_POST
def project_rename_view(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponse:
    """A new name and description, from the project page."""
    project, _ = _project_to_edit(request, project_id)
    try:
        project_rename(
            project=project,
            name=request.POST.get("name", ""),
            description=request.POST.get("description", ""),
        )
    except ProjectError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Name and description saved.")
    return redirect("project_detail", project_id=project.public_id)


@login_required
@require_POST
def project_move(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponse:
    """Into another folder of the team (``""``: the top level), from the project page."""
    project, membership = _project_to_edit(request, project_id)
    target = target_folder(membership, request.POST.get("folder", ""))
    projects_move(projects=Project.objects.filter(pk=project.pk), folder=target)
    messages.success(request, f"Moved to {f'“{target.name}”' if target else 'the top level'}.")
    return redirect("project_detail", project_id=project.public_id)


@login_required
def project_delete_view(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponse:
    """GET asks for confirmation with what goes; POST with ``confirm=yes`` deletes the project,
    its jobs and every file, then shows its folder."""
    project, _ = _project_to_edit(request, project_id)
    projects = Project.objects.filter(pk=project.pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        folder = project.folder
        projects_delete(projects=projects)
        messages.success(request, f"Project “{project.name}” and its files deleted.")
        return back_to(folder)
    return render(
        request,
        "library/project_delete.html",
        {"project": project, "jobs": project.jobs.count(), "files": file_count(projects)},
    )


@login_required
def team_delete_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Owner only. GET asks for confirmation with what goes; POST deletes, files included."""
    membership = current_membership(request, Role.OWNER)
    team = membership.team
    projects = Project.objects.filter(team=team)
    if request.method == "POST":
        if request.POST.get("confirm") != team.name:
            messages.error(request, "Type the team's name to confirm.")
        else:
            team_delete(team=team)
            request.session.pop(CURRENT_TEAM_SESSION_KEY, None)
            messages.success(request, f"Team “{team.name}” and its files are deleted.")
            return redirect("dashboard")
    return render(
        request,
        "library/team_delete.html",
        {"team": team, "projects": projects.count(), "files": file_count(projects)},
    )


@login_required
def project_source(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponseBase:
    project, _ = project_for_user(request, project_id)
    if not project.source:
        raise Http404("this platform track has no stored source yet")
    extension = stored_extension(project.source)
    filename = f"{slugify(project.name) or 'project'}-mixture.{extension}"
    return serve_stored(
        request, project.source, filename=filename, as_attachment="download" in request.GET
    )


@login_required
def project_source_peaks(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponse:
    """The source's waveform peaks JSON (``audio.analysis.peaks_json``), cached by the browser
    as a stem's are; 404 until a worker has stored them."""
    project, _ = project_for_user(request, project_id)
    if not project.source_peaks:
        raise Http404("no peaks for this source yet")
    with project.source_peaks.open("rb") as fh:
        response = JsonResponse(json.load(fh))
    response["Cache-Control"] = "private, max-age=86400"
    return response
