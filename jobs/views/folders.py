"""The team's projects: the dashboard (all of them) and folder pages, with breadcrumbs, a folder
tree, sorting, filters, search and pagination; folder and project moves and bulk actions.

The listing runs a fixed number of queries however many projects and folders a team has: the page
of projects (latest job's status and provider as subqueries), its count, and one query for all
the team's folders (the tree and breadcrumbs are built in Python).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Membership, Team
from accounts.services import team_current
from jobs.models import Folder, Project, SeparationJob, StemSet
from jobs.providers import PROVIDERS, configured_providers
from jobs.services import (
    FolderError,
    JobRequestError,
    folder_contents,
    folder_create,
    folder_delete,
    folder_move,
    folder_rename,
    projects_delete,
    projects_move,
    projects_separate,
)

Role = Membership.Role
PAGE_SIZE = 50
SORTS = {
    "date": "-created",
    "-date": "created",
    "name": "name",
    "-name": "-name",
    "status": "latest_status",
    "-status": "-latest_status",
}


def membership_for(request: HttpRequest, team: Team) -> Membership:
    """The user's membership of ``team``; 404 when they have none (the object is not theirs)."""
    membership = (
        Membership.objects.filter(user=request.user, team=team).select_related("team").first()
    )
    if membership is None:
        raise Http404("not found")
    return membership


def require_role(membership: Membership, role: str) -> None:
    if not membership.has_role(role):
        raise PermissionDenied(f"This needs the {role} role in {membership.team.name}.")


def can_edit(membership: Membership, project: Project) -> bool:
    """Admins edit any project; members their own."""
    return membership.can_manage or (
        membership.can_upload and project.created_by_id == membership.user_id
    )


@dataclass
class TreeNode:
    folder: Folder
    depth: int


def _tree(folders: list[Folder]) -> list[TreeNode]:
    children: dict[int | None, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder)
    out: list[TreeNode] = []

    def walk(parent: int | None, depth: int) -> None:
        for folder in sorted(children.get(parent, []), key=lambda f: f.name.lower()):
            out.append(TreeNode(folder, depth))
            walk(folder.pk, depth + 1)

    walk(None, 0)
    return out


def _breadcrumbs(folder: Folder | None, by_id: dict[int, Folder]) -> list[Folder]:
    crumbs = []
    while folder is not None:
        crumbs.append(folder)
        folder = by_id.get(folder.parent_id) if folder.parent_id else None
    return crumbs[::-1]


def _listing(
    request: HttpRequest, membership: Membership, folder: Folder | None, *, everything: bool
) -> HttpResponse:
    team = membership.team
    latest = SeparationJob.objects.filter(project=OuterRef("pk")).order_by("-created")
    projects = Project.objects.filter(team=team).annotate(
        latest_job_id=Subquery(latest.values("pk")[:1]),
        latest_status=Subquery(latest.values("status")[:1]),
        latest_provider=Subquery(latest.values("provider")[:1]),
    )
    if not everything:
        projects = projects.filter(folder=folder)
    query = request.GET.get("q", "").strip()
    if query:
        projects = projects.filter(name__icontains=query)
    status = request.GET.get("status", "")
    if status in SeparationJob.Status.values:
        projects = projects.filter(latest_status=status)
    provider = request.GET.get("provider", "")
    if provider in PROVIDERS:
        projects = projects.filter(latest_provider=provider)
    sort = request.GET.get("sort", "date")
    projects = projects.order_by(SORTS.get(sort, "-created"), "-pk")
    page = Paginator(projects, PAGE_SIZE).get_page(request.GET.get("page"))
    folders = list(
        Folder.objects.filter(team=team).only(
            "pk", "public_id", "name", "parent_id", "camb_folder_id"
        )
    )
    by_id = {f.pk: f for f in folders}
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "jobs/project_list.html",
        {
            "membership": membership,
            "team": team,
            "folder": folder,
            "everything": everything,
            "page": page,
            "tree": _tree(folders),
            "crumbs": _breadcrumbs(folder, by_id),
            "subfolders": sorted(
                (f for f in folders if f.parent_id == (folder.pk if folder else None)),
                key=lambda f: f.name.lower(),
            ),
            "query": query,
            "status": status,
            "provider": provider,
            "sort": sort,
            "statuses": SeparationJob.Status.choices,
            "providers": [(key, cls.label) for key, cls in PROVIDERS.items()],
            "run_providers": configured_providers(team),
            "stem_sets": StemSet.choices,
            "querystring": params.urlencode(),
        },
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _listing(request, team_current(request=request), None, everything=True)


@login_required
def folder_detail(request: HttpRequest, folder_id: str) -> HttpResponse:
    folder = get_object_or_404(
        Folder.objects.for_user(request.user).select_related("team"), public_id=folder_id
    )
    return _listing(request, membership_for(request, folder.team), folder, everything=False)


def _folder(
    request: HttpRequest, folder_id: str, role: str = Role.ADMIN
) -> tuple[Folder, Membership]:
    folder = get_object_or_404(
        Folder.objects.for_user(request.user).select_related("team"), public_id=folder_id
    )
    membership = membership_for(request, folder.team)
    require_role(membership, role)
    return folder, membership


def _back(folder: Folder | None) -> HttpResponse:
    return (
        redirect("folder_detail", folder_id=folder.public_id) if folder else redirect("dashboard")
    )


def _target_folder(membership: Membership, value: str) -> Folder | None:
    """The folder a form names (``""``: the top level), in the membership's team, or 404."""
    if not value:
        return None
    return get_object_or_404(Folder, team=membership.team, public_id=value)


@login_required
@require_POST
def folder_new(request: HttpRequest) -> HttpResponse:
    membership = team_current(request=request)
    parent_id = request.POST.get("parent", "")
    if parent_id:
        parent, membership = _folder(request, parent_id)
    else:
        parent = None
        require_role(membership, Role.ADMIN)
    try:
        created = folder_create(
            team=membership.team, parent=parent, name=request.POST.get("name", "")
        )
    except FolderError as exc:
        messages.error(request, str(exc))
        return _back(parent)
    return _back(created)


@login_required
@require_POST
def folder_rename_view(request: HttpRequest, folder_id: str) -> HttpResponse:
    folder, _ = _folder(request, folder_id)
    try:
        folder_rename(folder=folder, name=request.POST.get("name", ""))
    except FolderError as exc:
        messages.error(request, str(exc))
    return _back(folder)


@login_required
@require_POST
def folder_move_view(request: HttpRequest, folder_id: str) -> HttpResponse:
    folder, membership = _folder(request, folder_id)
    try:
        folder_move(
            folder=folder, parent=_target_folder(membership, request.POST.get("parent", ""))
        )
    except FolderError as exc:
        messages.error(request, str(exc))
    return _back(folder)


@login_required
@require_POST
def folder_camb(request: HttpRequest, folder_id: str) -> HttpResponse:
    folder, _ = _folder(request, folder_id)
    value = request.POST.get("camb_folder_id", "").strip()
    if value and not value.isdigit():
        messages.error(request, "A CAMB.AI folder id is a whole number.")
    else:
        folder.camb_folder_id = int(value) if value else None
        folder.save(update_fields=["camb_folder_id"])
        messages.success(
            request, "CAMB.AI folder mapping saved." if value else "CAMB.AI folder mapping removed."
        )
    return _back(folder)


@login_required
def folder_delete_view(request: HttpRequest, folder_id: str) -> HttpResponse:
    """An empty folder goes at once; a non-empty one after a confirmation saying what goes."""
    folder, _ = _folder(request, folder_id)
    contents = folder_contents(folder)
    empty = contents.folders == 0 and contents.projects == 0
    if request.method == "POST" and (empty or request.POST.get("confirm") == "yes"):
        parent = folder.parent
        folder_delete(folder=folder)
        messages.success(request, f"Folder “{folder.name}” deleted.")
        return _back(parent)
    return render(request, "jobs/folder_delete.html", {"folder": folder, "contents": contents})


@login_required
@require_POST
def project_move(request: HttpRequest, project_id: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.for_user(request.user), public_id=project_id)
    membership = membership_for(request, project.team)
    if not can_edit(membership, project):
        raise PermissionDenied("You can move your own projects; admins can move any.")
    target = _target_folder(membership, request.POST.get("folder", ""))
    projects_move(projects=Project.objects.filter(pk=project.pk), folder=target)
    return _back(target)


@login_required
@require_POST
def projects_bulk(request: HttpRequest) -> HttpResponse:
    """Move, delete or separate the selected projects of the current team."""
    membership = team_current(request=request)
    ids = request.POST.getlist("projects")
    projects = Project.objects.filter(team=membership.team, public_id__in=ids)
    back = _target_folder(membership, request.POST.get("back", ""))
    if not ids or projects.count() != len(set(ids)):
        raise Http404("some selected projects are not in this team")
    action = request.POST.get("action")
    if action in {"move", "delete"}:
        if not all(can_edit(membership, p) for p in projects):
            raise PermissionDenied("You can change your own projects; admins can change any.")
    else:
        require_role(membership, Role.MEMBER)
    if action == "move":
        moved = projects_move(
            projects=projects, folder=_target_folder(membership, request.POST.get("folder", ""))
        )
        messages.success(request, f"Moved {moved} project{'s' if moved != 1 else ''}.")
    elif action == "delete":
        deleted = projects_delete(projects=projects)
        messages.success(
            request, f"Deleted {deleted} project{'s' if deleted != 1 else ''} and their files."
        )
    elif action == "separate":
        try:
            jobs = projects_separate(
                projects=projects,
                user=request.user,
                provider_key=request.POST.get("provider", ""),
                stem_set=request.POST.get("stem_set", ""),
            )
        except JobRequestError as exc:
            messages.error(request, f"Nothing was queued. {exc}")
        else:
            messages.success(request, f"Queued {len(jobs)} job{'s' if len(jobs) != 1 else ''}.")
    else:
        messages.error(request, "Choose an action.")
    return _back(back)
