"""The team's projects: the dashboard (all of them) and folder pages, with breadcrumbs, a folder
tree, sorting, filters, search and pagination, and bulk move, delete or separate. Rows whose
latest job is unfinished refresh in place (``project_rows``) until none is left.

The listing runs a fixed number of queries however many projects and folders a team has: the
page of projects (latest job's status and provider as subqueries), its count, and one query for
all the team's folders (the tree and breadcrumbs are built in Python).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.access import AuthenticatedHttpRequest, current_membership, require_role
from accounts.models import Membership
from jobs.access import RateLimited, require_rate
from jobs.models import SeparationJob
from jobs.selectors import (
    LatestJob,
    configured_providers,
    projects_filtered,
    projects_with_latest_job,
)
from jobs.services import JobRequestError, projects_separate
from library.access import can_edit, folder_for_user, target_folder
from library.models import Folder, Project
from library.selectors import breadcrumbs, folder_tree, subfolders, team_folders
from library.services import projects_delete, projects_move
from library.views import back_to
from providers.registry import provider_choices
from providers.stemsets import StemSet
from stemweb.lib.conditional import fragment_etag, not_modified, revalidate
from stemweb.lib.ids import uuids_or_404

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

Role = Membership.Role
PAGE_SIZE = 50
TEMPLATE = "jobs/project_list.html"
UNFINISHED = {SeparationJob.Status.QUEUED, SeparationJob.Status.RUNNING}
SORTS = {
    "date": "-created",
    "-date": "created",
    "name": "name",
    "-name": "-name",
    "status": "latest_status",
    "-status": "-latest_status",
}


def _listing(
    request: AuthenticatedHttpRequest,
    membership: Membership,
    folder: Folder | None,
    *,
    everything: bool,
) -> HttpResponse:
    team = membership.team
    projects = projects_with_latest_job(team)
    if not everything:
        projects = projects.filter(folder=folder)
    query = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    provider = request.GET.get("provider", "")
    projects = projects_filtered(projects, query=query, status=status, provider=provider)
    sort = request.GET.get("sort", "date")
    projects = projects.order_by(SORTS.get(sort, "-created"), "-pk")
    page = Paginator(projects, PAGE_SIZE).get_page(request.GET.get("page"))
    folders = team_folders(team)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        TEMPLATE,
        {
            **_live(page.object_list),
            "membership": membership,
            "team": team,
            "folder": folder,
            "everything": everything,
            "page": page,
            "tree": folder_tree(folders),
            "crumbs": breadcrumbs(folder, folders),
            "subfolders": subfolders(folder, folders),
            "query": query,
            "status": status,
            "provider": provider,
            "sort": sort,
            "statuses": SeparationJob.Status.choices,
            "providers": provider_choices(),
            "run_providers": configured_providers(team),
            "stem_sets": StemSet.choices,
            "querystring": params.urlencode(),
        },
    )


@login_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _listing(request, current_membership(request), None, everything=True)


@login_required
def folder_detail(request: AuthenticatedHttpRequest, folder_id: str) -> HttpResponse:
    folder, membership = folder_for_user(request, folder_id)
    return _listing(request, membership, folder, everything=False)


@login_required
def project_rows(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """The live rows of a listing page, for its poller: each project ``?p=<id>`` of the current
    team as a row again (swapped in out of band), and the poller, which asks again for those
    whose latest job is still unfinished and stops when none is left. A 304 while none of the
    rows changed."""
    membership = current_membership(request)
    ids = uuids_or_404(request.GET.getlist("p"))[:PAGE_SIZE]
    rows = list(projects_with_latest_job(membership.team).filter(public_id__in=ids))
    etag = fragment_etag(
        TEMPLATE,
        *(
            f"{p.public_id}:{p.name}:{p.duration_s}:{p.latest_job_id}:{p.latest_status}:"
            f"{p.latest_provider}"
            for p in rows
        ),
    )
    if (unchanged := not_modified(request, etag)) is not None:
        return unchanged
    context = {"rows": rows, "oob": True, **_live(rows)}
    return revalidate(render(request, f"{TEMPLATE}#live-rows", context), etag)


def _live(projects: Iterable[WithAnnotations[Project, LatestJob]]) -> dict[str, object]:
    """Whether some of ``projects`` have an unfinished latest job, and the query naming them
    (``p=<id>&p=<id>``) for the poller."""
    live = [p.public_id for p in projects if p.latest_status in UNFINISHED]
    return {"live": bool(live), "live_query": urlencode([("p", str(i)) for i in live])}


@login_required
@require_POST
def projects_bulk(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Move, delete or separate the selected projects of the current team."""
    membership = current_membership(request)
    ids = uuids_or_404(request.POST.getlist("projects"))
    projects = Project.objects.filter(team=membership.team, public_id__in=ids)
    back = target_folder(membership, request.POST.get("back", ""))
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
            projects=projects, folder=target_folder(membership, request.POST.get("folder", ""))
        )
        messages.success(request, f"Moved {moved} project{'s' if moved != 1 else ''}.")
    elif action == "delete":
        deleted = projects_delete(projects=projects)
        messages.success(
            request, f"Deleted {deleted} project{'s' if deleted != 1 else ''} and their files."
        )
    elif action == "separate":
        try:
            require_rate(membership, "jobs", amount=len(ids))
            jobs = projects_separate(
                projects=projects,
                user=request.user,
                provider_key=request.POST.get("provider", ""),
                stem_set=request.POST.get("stem_set", ""),
            )
        except (JobRequestError, RateLimited) as exc:
            messages.error(request, f"Nothing was queued. {exc}")
        else:
            messages.success(request, f"Queued {len(jobs)} job{'s' if len(jobs) != 1 else ''}.")
    else:
        messages.error(request, "Choose an action.")
    return back_to(back)
