"""The project page: the source (player, waveform, facts), every job with its status and
provider, 'separate again', and the A/B comparison of two finished jobs in the mixer.

Renaming, moving and deleting the project are ``library.views``' (the library owns projects);
this page holds their forms.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.access import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from accounts.models import Membership
from jobs.access import RateLimited, require_rate, require_role
from jobs.models import SeparationJob
from jobs.selectors import configured_providers
from jobs.services import JobRequestError, job_create, source_peaks_request, source_refusal
from library.access import can_edit, project_for_user
from library.models import Project
from library.selectors import breadcrumbs, folder_tree, team_folders
from providers.base import Provider
from providers.stemsets import StemSet
from stemweb.lib.conditional import fragment_etag, not_modified, revalidate
from stemweb.lib.ids import uuid_or_404

Role = Membership.Role
Status = SeparationJob.Status
TEMPLATE = "jobs/project_detail.html"


@login_required
@vary_on_headers("HX-Request")  # one URL, two renders: the page and its jobs fragment
def project_detail(request: AuthenticatedHtmxHttpRequest, project_id: str) -> HttpResponseBase:
    """The project page; with ``HX-Request`` and ``?part=jobs``, its jobs fragment, which polls
    while a job is unfinished (a 304 when none of them changed)."""
    project, membership = project_for_user(request, project_id)
    jobs = list(project.jobs.select_related("project__team"))
    context = {"project": project, **_jobs_context(request, project, jobs)}
    if request.htmx and request.GET.get("part") == "jobs":
        etag = _jobs_etag(request, jobs)
        if (unchanged := not_modified(request, etag)) is not None:
            return unchanged
        return revalidate(render(request, f"{TEMPLATE}#project-jobs", context), etag)
    source_peaks_request(project)  # an older project, or a lost task: asked again, harmlessly
    folders = team_folders(project.team)
    providers = _offered(project) if membership.can_upload else []
    offered_sets = {s for p in providers for s in p.stem_sets}
    context |= {
        "membership": membership,
        "can_edit": can_edit(membership, project),
        "crumbs": breadcrumbs(project.folder, folders),
        "tree": folder_tree(folders),
        "providers": providers,
        "stem_sets": [s for s in StemSet if s in offered_sets],
        "default_stem_set": providers[0].stem_sets[0] if providers else None,
    }
    return render(request, TEMPLATE, context)


def _jobs_context(
    request: AuthenticatedHttpRequest, project: Project, jobs: list[SeparationJob]
) -> dict[str, object]:
    """The jobs, whether one is unfinished (the fragment polls), and the finished ones the
    viewer may compare (a job held for review is not, except for staff)."""
    finished = [
        j for j in jobs if j.status == Status.SUCCEEDED and (request.user.is_staff or not j.is_held)
    ]
    return {
        "jobs": jobs,
        "unfinished": any(not j.is_terminal for j in jobs),
        "finished": finished,
    }


def _jobs_etag(request: AuthenticatedHttpRequest, jobs: list[SeparationJob]) -> str:
    """What the jobs fragment shows: each job's status, provider, stems, error and review,
    and the viewer's staff flag (held jobs are compared by staff only)."""
    rows = (
        f"{j.pk}:{j.status}:{j.provider}:{j.stem_set}:{j.error}:{j.is_held}:{j.review_state}"
        for j in jobs
    )
    return fragment_etag(TEMPLATE, str(request.user.is_staff), *rows)


def _offered(project: Project) -> list[Provider]:
    """The providers that can take this project's source, for this team."""
    providers = configured_providers(project.team)
    return [p for p in providers if source_refusal(p, project=project) is None]


@login_required
@require_POST
def project_separate(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponse:
    """Separate the project again with the provider and stem set chosen, through the same
    checks and quota as an upload; back to the project page, with what happened."""
    project, membership = project_for_user(request, project_id)
    require_role(membership, Role.MEMBER)
    try:
        require_rate(membership, "jobs")
        job = job_create(
            project=project,
            user=request.user,
            provider_key=request.POST.get("provider", ""),
            stem_set=request.POST.get("stem_set", ""),
        )
    except (JobRequestError, RateLimited) as exc:
        messages.error(request, f"Nothing was queued. {exc}")
    else:
        messages.success(
            request, f"Queued: {job.get_stem_set_display()} with {job.provider_label}."
        )
    return redirect("project_detail", project_id=project.public_id)


@login_required
@require_GET
def project_compare(request: AuthenticatedHttpRequest, project_id: str) -> HttpResponse:
    """Open the mixer of finished job ``a`` with job ``b`` as its A/B comparison
    (``/jobs/<a>/?compare=<b>``); back to the project page when they cannot be compared."""
    project, _ = project_for_user(request, project_id)
    a_id, b_id = (uuid_or_404(request.GET.get(key, "")) for key in ("a", "b"))
    succeeded = project.jobs.select_related("project__team").filter(
        pk__in=[a_id, b_id], status=Status.SUCCEEDED
    )
    chosen = {j.pk: j for j in succeeded if request.user.is_staff or not j.is_held}
    a, b = chosen.get(a_id), chosen.get(b_id)
    if a is None or b is None or a.pk == b.pk:
        messages.error(request, "Choose two different finished jobs to compare.")
    elif not set(a.stem_names) & set(b.stem_names):
        messages.error(request, "These two jobs have no stem in common to compare.")
    else:
        query = urlencode({"compare": str(b.pk)})
        return redirect(f"{reverse('job_detail', args=[a.pk])}?{query}")
    return redirect("project_detail", project_id=project.public_id)
