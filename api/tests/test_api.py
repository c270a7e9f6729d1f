"""The REST API over real HTTP (a live server and httpx) with personal access tokens: uploads
validated and limited like the upload page, reads, filters, stems with signed links, cancel and
delete; errors as Problem Details; 401, 403, 404 across teams, 413 and 429."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import soundfile as sf
from django.conf import settings as django_settings

from accounts.models import Membership, Team
from api.models import ApiToken
from jobs.forms import UploadForm
from jobs.models import SeparationJob
from library.models import Folder, Project
from library.services import folder_create
from providers.stemsets import StemSet
from tests.fixtures import (
    make_finished_job,
    make_job,
    make_token,
    make_user,
    write_flac,
)

pytestmark = pytest.mark.django_db(transaction=True)
Role = Membership.Role
PROBLEM = "application/problem+json"
LOCAL = {"provider": "local", "stem_set": "foreground_background"}


@pytest.fixture
def api(live_server):
    """``api(token)``: an httpx client for /api/v1 sending ``token`` (none: no header)."""
    clients: list[httpx.Client] = []

    def make(token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=f"{live_server.url}/api/v1", headers=headers, timeout=60)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def ada(db):
    return make_user("ada@example.com")


def _upload(client: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with open(path, "rb") as fh:
        return client.post("/projects", files={"file": (path.name, fh)}, data={**LOCAL, **fields})


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["detail"]
    return body


def _upload_temp_files() -> list[Path]:
    return sorted(Path(django_settings.FILE_UPLOAD_TEMP_DIR).glob("tmp*.upload*"))


def test_an_upload_makes_a_project_and_a_queued_job_that_can_be_read(api, ada, mixture):
    client = api(make_token(ada))
    response = _upload(client, mixture, name="Rock take")  # no CSRF token: none is needed
    assert response.status_code == 201, response.text
    body = response.json()
    project, job = Project.objects.get(), SeparationJob.objects.get()
    assert body["project"]["id"] == str(project.public_id) and project.name == "Rock take"
    assert body["project"]["status"] == "queued" and body["project"]["container"] == "FLAC"
    assert body["job"]["id"] == str(job.pk) and body["job"]["status"] == "queued"
    assert project.created_by == ada and project.source and job.provider == "local"
    assert _upload_temp_files() == []  # Django removed the streamed upload

    got = client.get(f"/jobs/{job.pk}")
    assert got.status_code == 200 and got.json()["project"] == str(project.public_id)
    detail = client.get(f"/projects/{project.public_id}").json()
    assert [j["id"] for j in detail["jobs"]] == [str(job.pk)]
    assert detail["sha256"] == project.sha256 and detail["duration_s"] > 1
    assert ApiToken.objects.get().last_used_at is not None


def test_an_upload_is_filed_in_the_folder_it_names_in_its_own_team_only(api, ada, mixture):
    client = api(make_token(ada))
    album = folder_create(team=Membership.objects.get(user=ada).team, parent=None, name="Album")
    filed = _upload(client, mixture, folder=str(album.public_id))
    assert filed.status_code == 201, filed.text
    assert filed.json()["project"]["folder"] == str(album.public_id)
    stranger = make_user("stranger@example.com")
    theirs = folder_create(
        team=Membership.objects.get(user=stranger).team, parent=None, name="Theirs"
    )
    refused = _problem(_upload(client, mixture, folder=str(theirs.public_id)), 422)
    assert "folder" in refused["errors"]
    assert list(Project.objects.values_list("folder", flat=True)) == [album.pk]


def test_uploads_are_validated_like_the_upload_page_and_store_nothing(
    api, ada, bad_dir, mixture, stored
):
    client = api(make_token(ada))
    not_audio = _problem(_upload(client, bad_dir / "png_renamed.wav"), 422)
    assert set(not_audio["errors"]) == {"file"}
    unknown = _problem(_upload(client, mixture, provider="nope"), 422)
    assert "provider" in unknown["errors"]
    missing = _problem(client.post("/projects", data=LOCAL), 422)
    assert missing["errors"]["file"] == ["Choose a recording to send to Local engine."]
    Team.objects.update(quota_stem_seconds=1)
    quota = _problem(_upload(client, mixture), 422)
    assert "monthly stem-seconds are left" in quota["detail"]
    assert Project.objects.count() == 0 and SeparationJob.objects.count() == 0
    assert stored.names() == [] and _upload_temp_files() == []


def test_the_openapi_form_of_the_upload_has_the_upload_forms_fields(api):
    document = api().get("/openapi.json")
    assert document.status_code == 200
    schema = document.json()
    form = schema["paths"]["/api/v1/projects"]["post"]["requestBody"]["content"]
    assert set(form["multipart/form-data"]["schema"]["properties"]) == set(UploadForm.base_fields)
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    errors = schema["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["404"]["content"]
    assert list(errors) == [PROBLEM]


def test_without_a_valid_token_it_is_401(api, ada, client):
    raw = make_token(ada)
    for token in (None, "stw_not-a-token", raw[:-1]):
        response = api(token).get("/projects")
        _problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert api(raw).get("/projects").status_code == 200
    ApiToken.objects.update(revoked_at="2026-01-01T00:00Z")
    _problem(api(raw).get("/projects"), 401)
    # A session cookie authenticates pages, never the API.
    client.force_login(ada)
    with_session = api()
    name = django_settings.SESSION_COOKIE_NAME
    with_session.cookies.set(name, client.cookies[name].value)
    _problem(with_session.get("/projects"), 401)


def test_a_removed_members_token_stops_working(api, ada):
    team = Membership.objects.get(user=ada).team
    bob = make_user("bob@example.com")
    Membership.objects.create(team=team, user=bob, role=Role.MEMBER)
    client = api(make_token(bob, team=team))
    assert client.get("/projects").status_code == 200
    Membership.objects.filter(user=bob, team=team).delete()
    _problem(client.get("/projects"), 401)


def test_the_owners_other_teams_are_404_to_a_token(api, ada, mixture):
    personal = Membership.objects.get(user=ada).team
    label = Team.objects.create(name="Label")
    Membership.objects.create(team=label, user=ada, role=Role.OWNER)
    job = make_job(ada, mixture)
    Project.objects.filter(pk=job.project_id).update(team=label)
    folder = Folder.objects.create(team=label, name="Masters")
    client = api(make_token(ada, role=Role.OWNER, team=personal))
    project = f"/projects/{job.project.public_id}"
    for method, url in [
        ("GET", project),
        ("DELETE", project),
        ("POST", f"{project}/jobs"),
        ("GET", f"/jobs/{job.pk}"),
        ("GET", f"/jobs/{job.pk}/stems"),
        ("POST", f"/jobs/{job.pk}/cancel"),
        ("GET", f"/projects?folder={folder.public_id}"),
        ("GET", f"/jobs?project={job.project.public_id}"),
    ]:
        _problem(client.request(method, url, json=LOCAL), 404)
    assert client.get("/projects").json() == {"items": [], "count": 0}
    assert client.get("/jobs").json()["count"] == 0
    assert Project.objects.filter(team=label).count() == 1
    assert SeparationJob.objects.get().status == "queued"


def test_a_role_too_low_is_403_and_changes_nothing(api, ada, mixture):
    team = Membership.objects.get(user=ada).team
    queued = make_job(ada, mixture)
    viewer = api(make_token(ada, role=Role.VIEWER))
    assert viewer.get(f"/jobs/{queued.pk}").status_code == 200
    refused = [
        _upload(viewer, mixture),
        viewer.post(f"/projects/{queued.project.public_id}/jobs", json=LOCAL),
        viewer.post(f"/jobs/{queued.pk}/cancel"),
        viewer.delete(f"/projects/{queued.project.public_id}"),
    ]
    for response in refused:
        _problem(response, 403)
    # A member token whose owner was demoted to viewer acts as a viewer.
    bob = make_user("bob@example.com")
    Membership.objects.create(team=team, user=bob, role=Role.MEMBER)
    demoted = api(make_token(bob, role=Role.MEMBER, team=team))
    Membership.objects.filter(user=bob, team=team).update(role=Role.VIEWER)
    _problem(demoted.post(f"/jobs/{queued.pk}/cancel"), 403)
    assert "needs the member role" in refused[0].json()["detail"]
    assert Project.objects.count() == 1 and SeparationJob.objects.get().status == "queued"


@pytest.mark.s3
def test_members_delete_their_own_projects_and_admins_any(api, ada, mixture, stored):
    team = Membership.objects.get(user=ada).team
    bob = make_user("bob@example.com")
    Membership.objects.create(team=team, user=bob, role=Role.MEMBER)
    adas = make_job(ada, mixture, name="Ada's").project
    bobs = make_job(bob, mixture, name="Bob's").project
    Project.objects.filter(pk=bobs.pk).update(team=team)  # made in Bob's personal team
    member = api(make_token(bob, team=team))
    _problem(member.delete(f"/projects/{adas.public_id}"), 403)
    assert member.delete(f"/projects/{bobs.public_id}").status_code == 204
    admin = api(make_token(ada, role=Role.ADMIN))
    assert admin.delete(f"/projects/{adas.public_id}").status_code == 204
    assert Project.objects.count() == 0 and stored.names() == []


def test_start_a_job_on_a_project_and_cancel_it(api, ada, mixture):
    project = make_job(ada, mixture).project
    client = api(make_token(ada))
    started = client.post(f"/projects/{project.public_id}/jobs", json=LOCAL)
    assert started.status_code == 201, started.text
    job = SeparationJob.objects.get(pk=started.json()["id"])
    assert job.project == project and job.status == "queued" and job.created_by == ada
    refused = _problem(
        client.post(f"/projects/{project.public_id}/jobs", json={**LOCAL, "stem_set": "multi"}), 422
    )
    assert "does not offer" in refused["detail"]
    malformed = _problem(client.post(f"/projects/{project.public_id}/jobs", json={"x": 1}), 422)
    assert malformed["errors"] == {"provider": ["Field required"], "stem_set": ["Field required"]}

    canceled = client.post(f"/jobs/{job.pk}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    job.refresh_from_db()
    assert job.status == "canceled" and job.error == "Canceled by ada@example.com."
    again = _problem(client.post(f"/jobs/{job.pk}/cancel"), 409)
    assert "already ended (canceled)" in again["detail"]


def test_lists_filter_by_status_provider_and_folder(api, ada, mixture):
    team = Membership.objects.get(user=ada).team
    folder = Folder.objects.create(team=team, name="Drafts")
    queued = make_job(ada, mixture, name="Queued")
    done = make_job(ada, mixture, name="Done")
    SeparationJob.objects.filter(pk=done.pk).update(status="succeeded", provider="finevoice")
    Project.objects.filter(pk=done.project_id).update(folder=folder)
    client = api(make_token(ada))

    def names(url: str) -> list[str]:
        response = client.get(url)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert names("/projects") == ["Done", "Queued"]
    assert names("/projects?status=queued") == ["Queued"]
    assert names("/projects?provider=finevoice") == ["Done"]
    assert names(f"/projects?folder={folder.public_id}") == ["Done"]
    assert names("/projects?limit=1&offset=1") == ["Queued"]
    jobs = client.get("/jobs?status=succeeded").json()
    assert jobs["count"] == 1 and jobs["items"][0]["id"] == str(done.pk)
    assert client.get("/jobs?provider=local").json()["items"][0]["id"] == str(queued.pk)
    assert client.get(f"/jobs?folder={folder.public_id}").json()["count"] == 1
    bad = _problem(client.get("/projects?status=finished"), 422)
    assert "status" in bad["errors"]
    assert "provider" in _problem(client.get("/jobs?provider=nope"), 422)["errors"]


@pytest.mark.s3
def test_stems_come_with_signed_links_that_need_no_token(
    api, ada, mixture, tmp_path, settings, live_server, stored
):
    settings.STEMWEB_PUBLIC_URL = live_server.url
    short = write_flac(tmp_path / "short.flac", 3)
    job = make_finished_job(ada, short, StemSet.VOCALS_INSTRUMENTAL, tmp_path)
    client = api(make_token(ada, role=Role.VIEWER))
    response = client.get(f"/jobs/{job.pk}/stems")
    assert response.status_code == 200, response.text
    stems = response.json()
    assert [s["name"] for s in stems] == ["vocals", "instrumental"]
    for stem in stems:
        signed_by = f"{live_server.url}/signed/stem/" if stored.kind == "local" else stored.endpoint
        assert stem["url"].startswith(signed_by)
        audio = httpx.get(stem["url"], timeout=30)  # no token: the signature is the key
        assert audio.status_code == 200
        target = tmp_path / f"{stem['name']}.{stem['format']}"
        target.write_bytes(audio.content)
        assert abs(sf.info(target).duration - stem["duration_s"]) < 0.01
    assert client.get(f"/jobs/{make_job(ada, mixture).pk}/stems").json() == []  # not done yet
    Team.objects.update(requires_review=True)
    held = _problem(client.get(f"/jobs/{job.pk}/stems"), 403)
    assert "awaiting review" in held["detail"]


def test_over_the_tokens_rate_it_is_429_with_retry_after(api, ada, settings):
    settings.STEMWEB_API_RATE_TOKEN = "3/60"
    first, second = api(make_token(ada)), api(make_token(ada, name="other"))
    assert [first.get("/jobs").status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get("/jobs")
    body = _problem(refused, 429)
    assert "this token may make 3 requests every 60 s" in body["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert second.get("/jobs").status_code == 200  # counted per token


def test_the_upload_rate_is_the_upload_pages(api, ada, mixture, settings):
    settings.STEMWEB_UPLOAD_RATE_USER = "1/60"
    client = api(make_token(ada))
    assert _upload(client, mixture).status_code == 201
    assert "Too many uploads" in _problem(_upload(client, mixture), 429)["detail"]
    assert Project.objects.count() == 1


def test_the_body_limit_applies_as_to_signed_in_uploads(api, ada, tmp_path, settings):
    big = write_flac(tmp_path / "long.flac", 20)  # noise: about 3.4 MB, over the anonymous limit
    assert big.stat().st_size > django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = make_token(ada)
    assert _upload(api(raw), big).status_code == 201
    refused = _problem(_upload(api("stw_wrong"), big), 413)
    assert "Sign in" in refused["detail"]
    settings.STEMWEB_MAX_UPLOAD_MB = 1
    assert "the limit is 1 MB" in _problem(_upload(api(raw), big), 413)["detail"]
    assert Project.objects.count() == 1 and _upload_temp_files() == []


def test_every_error_under_the_api_is_a_problem(api, ada):
    client = api(make_token(ada))
    _problem(client.get("/no-such-thing"), 404)
    not_allowed = client.put("/jobs")
    assert _problem(not_allowed, 405)["title"] == "Method Not Allowed"
    assert not_allowed.headers["allow"] == "GET"
    _problem(client.get("/jobs/not-a-uuid"), 404)


def test_the_docs_page_runs_under_the_strict_policy_from_local_files(api):
    response = api().get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page = response.text
    assert "/static/ninja/swagger-ui-bundle.js" in page and "/api/v1/openapi.json" in page
    assert "cdn" not in page.lower() and "https://" not in page and "http://" not in page
    scripts = page.split("<script")[1:]
    assert len(scripts) == 3
    for script in scripts:  # code only from files; the one inline block is JSON data
        assert ' src="/static/' in script.split(">")[0] or 'type="application/json"' in script
