"""Reads that several views and services share: providers a team can use and its keys, the
listing of a team's projects with their latest job, and a finished job's mixer data."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypedDict

from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse

from accounts.models import ProviderKey, Team
from jobs.models import SeparationJob
from library.models import Project
from providers.base import Provider
from providers.registry import PROVIDERS, all_providers

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def provider_api_key(provider: Provider, team: Team | None) -> str:
    """The team's own key for ``provider`` when it has one, else the site's."""
    if team is not None and provider.needs_api_key:
        stored = ProviderKey.objects.filter(team=team, provider=provider.key).first()
        if stored is not None:
            return stored.reveal()
    return provider.site_api_key


def provider_is_configured(provider: Provider, team: Team | None) -> bool:
    """Whether ``provider`` can take jobs for ``team`` (enabled, and a key when it needs one)."""
    has_key = (
        team is not None
        and provider.needs_api_key
        and ProviderKey.objects.filter(team=team, provider=provider.key).exists()
    )
    return provider.is_configured(has_team_key=has_key)


def configured_providers(team: Team | None = None) -> list[Provider]:
    """Providers that can take jobs for ``team`` (its own keys count), in registry order.

    One query for the team's keys, whatever the number of providers.
    """
    own = (
        set(ProviderKey.objects.filter(team=team).values_list("provider", flat=True))
        if team
        else set()
    )
    return [p for p in all_providers() if p.is_configured(has_team_key=p.key in own)]


class LatestJob(TypedDict):
    """What ``projects_with_latest_job`` annotates (None for a project without jobs)."""

    latest_job_id: uuid.UUID | None
    latest_status: str | None
    latest_provider: str | None


def projects_with_latest_job(team: Team) -> QuerySet[WithAnnotations[Project, LatestJob]]:
    """The team's projects, each annotated with its latest job's id, status and provider."""
    latest = SeparationJob.objects.filter(project=OuterRef("pk")).order_by("-created")
    return Project.objects.filter(team=team).annotate(
        latest_job_id=Subquery(latest.values("pk")[:1]),
        latest_status=Subquery(latest.values("status")[:1]),
        latest_provider=Subquery(latest.values("provider")[:1]),
    )


def projects_filtered(
    projects: QuerySet[WithAnnotations[Project, LatestJob]],
    *,
    query: str = "",
    status: str = "",
    provider: str = "",
) -> QuerySet[WithAnnotations[Project, LatestJob]]:
    """``projects_with_latest_job`` narrowed as the listing and the API filter it: names
    containing ``query``, latest job's ``status`` and ``provider``. An empty or unknown status
    or provider filters nothing."""
    if query:
        projects = projects.filter(name__icontains=query)
    if status in SeparationJob.Status.values:
        projects = projects.filter(latest_status=status)
    if provider in PROVIDERS:
        projects = projects.filter(latest_provider=provider)
    return projects


def ab_compare(job: SeparationJob, names: set[str]) -> list[dict[str, object]]:
    """Other succeeded jobs of the job's project that share stem names with it, for the
    mixer's A/B switch: their id, a label, and a link per shared stem."""
    compare: list[dict[str, object]] = []
    others = (
        SeparationJob.objects.filter(project=job.project, status=SeparationJob.Status.SUCCEEDED)
        .exclude(pk=job.pk)
        .prefetch_related("stems")
    )
    for other in others:
        shared = {
            s.name: reverse("stem_file", args=[s.public_id])
            for s in other.stems.all()
            if s.name in names
        }
        if shared:
            when = f"{other.created:%Y-%m-%d %H:%M}"
            label = f"{other.provider_label}, {other.get_stem_set_display()}, {when}"
            compare.append({"id": str(other.pk), "label": label, "stems": shared})
    return compare
