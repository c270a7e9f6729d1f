"""Walk every URL pattern of the project with another team's objects: 404 everywhere (403 where
one's own team lets a role do less), and nothing changes. The REST API is walked the same way
over real HTTP with a personal access token, every operation of its OpenAPI document.

A pattern whose parameter this test cannot fill fails it, so new URLs must be covered here.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import django.core.signing
import httpx
import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Invitation, Membership, ProviderKey, Team, User
from api.models import ApiToken
from jobs import signing
from jobs.models import JobEvent, SeparationJob, Stem
from library.models import Folder, Project
from providers.stemsets import StemSet
from tests.fixtures import furnish, make_finished_job, make_token, make_user

pytestmark = pytest.mark.django_db
# Public by design: allauth's own pages, Django's admin and django-rq's (staff only), provider
# callbacks (per-job token), signed links (checked below after expiry), invitations (token).
# The API authenticates by token only (a session gets 401): walked with tokens below.
SKIP_PREFIXES = ("admin/", "accounts/", "hooks/", "signed/", "invitations/", "api/")
STAFF_ONLY = ("review/",)
API = "api/v1/"
PROBLEM = "application/problem+json"


def site_routes(resolver=None, prefix="", namespace=""):
    """(route, pattern, the name to reverse it by) for every URL pattern."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from site_routes(entry, route, inner)
        elif isinstance(entry, URLPattern):
            yield route, entry, f"{namespace}{entry.name}"


@pytest.fixture
def victim(mixture, tmp_path):
    owner = make_user("victim@example.com")
    job = make_finished_job(
        owner,
        mixture,
        StemSet.FOREGROUND_BACKGROUND,
        tmp_path / "stems",
        name="Secret demo",
        provider="local",
    )
    team = Membership.objects.get(user=owner).team
    folder = Folder.objects.create(team=team, name="Private")
    Project.objects.filter(pk=job.project_id).update(folder=folder)
    invitation, mix = furnish(
        owner, job, invitee="x@example.com", camb_key="victims-camb-key", token="victim's script"
    )
    return {
        "job_id": job.pk,
        "project_id": job.project.public_id,
        "folder_id": folder.public_id,
        "stem_id": job.stems.first().public_id,
        "team_id": team.public_id,
        "membership_id": Membership.objects.get(user=owner).public_id,
        "invitation_id": invitation.public_id,
        "provider": "camb",
        "fmt": "mp3",
        "mix_id": mix.public_id,
        "token_id": ApiToken.objects.get().public_id,
    }


def _snapshot():
    return (
        [(t.name, t.webhook_url, t.quota_credits) for t in Team.objects.order_by("pk")],
        list(Membership.objects.order_by("pk").values_list("team_id", "user_id", "role")),
        list(Project.objects.order_by("pk").values_list("name", "folder_id", "team_id")),
        list(Folder.objects.order_by("pk").values_list("name", "parent_id", "camb_folder_id")),
        list(SeparationJob.objects.order_by("pk").values_list("status", "stem_set")),
        Stem.objects.count(),
        JobEvent.objects.count(),
        ProviderKey.objects.count(),
        list(Invitation.objects.order_by("pk").values_list("revoked", "accepted")),
        list(ApiToken.objects.order_by("pk").values_list("name", "revoked_at")),
    )


@pytest.mark.s3
def test_every_url_with_another_teams_objects_is_404_and_changes_nothing(client, victim):
    attacker = make_user("attacker@example.com")
    Membership.objects.filter(user=attacker).update(role=Membership.Role.OWNER)
    client.force_login(attacker)
    before = _snapshot()
    tried = 0
    for route, pattern, name in site_routes():
        if route.startswith(SKIP_PREFIXES):
            continue
        params = list(pattern.pattern.converters)
        if not params:
            continue
        missing = [p for p in params if p not in victim]
        assert not missing, f"{route}: add {missing} to the access walk"
        url = reverse(name, kwargs={p: victim[p] for p in params})
        for method in ("get", "post"):
            response = getattr(client, method)(
                url, HTTP_HX_REQUEST="true" if method == "get" else ""
            )
            if route.startswith(STAFF_ONLY):  # not staff: sent to the admin's login instead
                assert response.status_code == 302
                assert response["Location"].startswith("/admin/login/")
            else:
                assert response.status_code in {404, 405}, (
                    f"{method.upper()} {url}: {response.status_code}"
                )
            tried += 1
    assert tried >= 30
    assert _snapshot() == before
    assert "Secret demo" not in client.get(reverse("dashboard")).content.decode()


def test_bulk_actions_and_team_switch_with_another_teams_ids_are_404(client, victim):
    attacker = make_user("attacker@example.com")
    client.force_login(attacker)
    before = _snapshot()
    for action in ("move", "delete", "separate"):
        response = client.post(
            reverse("projects_bulk"),
            {
                "action": action,
                "projects": [victim["project_id"]],
                "provider": "local",
                "stem_set": "foreground_background",
                "folder": victim["folder_id"],
            },
        )
        assert response.status_code == 404, action
    assert client.post(reverse("team_switch", args=[victim["team_id"]])).status_code == 404
    assert _snapshot() == before


def test_signed_links_stop_working_after_expiry(client, victim, settings, monkeypatch):
    stem = Stem.objects.get(public_id=victim["stem_id"])
    project = Project.objects.get(public_id=victim["project_id"])
    fresh = [signing.stem_url(stem), signing.source_url(project)]
    for url in fresh:
        assert client.get(url.replace(settings.STEMWEB_PUBLIC_URL, "")).status_code == 200
    settings.STEMWEB_SIGNED_URL_TTL_S = 0
    # Two seconds later, on the signer's clock (its timestamps are whole seconds).
    later = time.time() + 2
    monkeypatch.setattr(django.core.signing, "time", SimpleNamespace(time=lambda: later))
    for url in fresh:
        assert client.get(url.replace(settings.STEMWEB_PUBLIC_URL, "")).status_code == 404


def test_a_role_too_low_in_ones_own_team_is_403(client, victim):
    viewer = User.objects.get(email="victim@example.com")
    Membership.objects.filter(user=viewer).update(role=Membership.Role.VIEWER)
    client.force_login(viewer)
    before = _snapshot()
    for name in ("folder_rename", "folder_move", "folder_camb", "folder_delete"):
        assert (
            client.post(reverse(name, args=[victim["folder_id"]]), {"name": "x"}).status_code == 403
        ), name
    for name in ("project_move", "project_rename", "project_delete", "project_separate"):
        response = client.post(
            reverse(name, args=[victim["project_id"]]),
            {"folder": "", "name": "x", "confirm": "yes", "provider": "local"},
        )
        assert response.status_code == 403, name
    assert client.get(reverse("project_delete", args=[victim["project_id"]])).status_code == 403
    assert client.post(reverse("job_cancel", args=[victim["job_id"]])).status_code == 403
    assert client.get(reverse("project_detail", args=[victim["project_id"]])).status_code == 200
    assert client.post(reverse("provider_key_delete", args=["camb"])).status_code == 403
    assert (
        client.post(reverse("invitation_revoke", args=[victim["invitation_id"]])).status_code == 403
    )
    assert _snapshot() == before


# --- The REST API, over real HTTP with personal access tokens -------------------------------

LOCAL = {"provider": "local", "stem_set": "foreground_background"}
# Query parameters naming an object: the filters of the list endpoints.
FILTERS = {"folder": "folder_id", "project": "project_id"}
NOT_OPERATIONS = {"/api/v1/", "/api/v1/openapi.json", "/api/v1/docs"}


def _api_operations(client: httpx.Client) -> list[tuple[str, str, dict]]:
    """(method, path, operation) for every operation of the OpenAPI document, after checking
    that it documents every API route (so none escapes this walk)."""
    schema = client.get(f"/{API}openapi.json").json()
    routes = {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route, _, _ in site_routes()
        if route.startswith(API)
    }
    assert routes - NOT_OPERATIONS == set(schema["paths"])
    return [
        (method.upper(), path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def _params(operation: dict, where: str) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == where]


def _body(method: str, path: str) -> dict:
    """A request body that passes the parameter parsing, so the access check decides."""
    if method != "POST":
        return {}
    return {"json": LOCAL} if path.endswith("/jobs") else {"data": LOCAL}


def _token_client(live_server, raw: str) -> httpx.Client:
    return httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {raw}"}, timeout=60
    )


@pytest.mark.django_db(transaction=True)
def test_every_api_operation_with_another_teams_objects_is_404_and_changes_nothing(
    live_server, victim
):
    attacker = make_user("attacker@example.com")
    token = make_token(attacker, role=Membership.Role.OWNER)
    before = _snapshot()
    tried = 0
    with _token_client(live_server, token) as api:
        for method, path, operation in _api_operations(api):
            params = _params(operation, "path")
            missing = [p for p in params if p not in victim]
            assert not missing, f"{path}: add {missing} to the access walk"
            if params:
                url = path.format(**{p: victim[p] for p in params})
                response = api.request(method, url, **_body(method, path))
                assert response.status_code == 404, f"{method} {url}: {response.status_code}"
                assert response.headers["content-type"] == PROBLEM
                tried += 1
            for name in set(_params(operation, "query")) & set(FILTERS):
                response = api.get(path, params={name: str(victim[FILTERS[name]])})
                assert response.status_code == 404, f"{path}?{name}=: {response.status_code}"
                tried += 1
            if method == "GET" and not params:  # a listing shows nothing of theirs
                listing = api.get(path)
                assert listing.status_code == 200 and listing.json()["count"] == 0
    assert tried >= 9
    assert _snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_a_viewer_token_reads_every_api_object_of_its_team_and_changes_none(live_server, victim):
    token = make_token(User.objects.get(email="victim@example.com"), role=Membership.Role.VIEWER)
    before = _snapshot()
    with _token_client(live_server, token) as api:
        for method, path, operation in _api_operations(api):
            params = _params(operation, "path")
            url = path.format(**{p: victim[p] for p in params})
            response = api.request(method, url, **_body(method, path))
            expected = 200 if method == "GET" else 403
            assert response.status_code == expected, f"{method} {url}: {response.text}"
            if expected == 403:
                assert response.headers["content-type"] == PROBLEM
    assert _snapshot() == before
