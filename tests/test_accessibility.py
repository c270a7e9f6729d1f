"""axe-core (npm, tests only) in Debian's chromium on every page stemweb serves: no serious or
critical violations. The pages are found by walking the URL patterns, as the access walk does: a
route that answers a full HTML page and is not checked here fails the test. The staff's admin
pages (jobs are reviewed there) are checked too."""

from __future__ import annotations

import re
from pprint import pformat

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Team, User
from accounts.services import invitation_token
from api.models import ApiToken
from library.models import Folder, Project
from providers.stemsets import StemSet
from tests.browser import axe_violations, sign_in
from tests.fixtures import furnish, make_finished_job, make_job, make_user
from tests.test_access_walk import site_routes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What shows that a page has finished drawing itself, where "main" is not enough.
READY = {"api-v1:openapi-view": ".swagger-ui .opblock"}
# Reached only through a mailed link: checked by following the mail in the signed-out test.
MAILED = {"account_confirm_email", "account_reset_password_from_key"}
# Not walked: Django's admin and django-rq's pages (the staff's pages among them are checked in
# test_no_serious_or_critical_violations_for_staff), provider callbacks and signed links. The
# API's endpoints answer JSON, so the walk passes them by; its docs page is a page.
NOT_OURS = ("admin/", "django-rq/", "hooks/", "signed/")


@pytest.fixture
def world(mixture, tmp_path):
    """An owner (staff and superuser, so the review queue shows) whose team has something on
    every page: a folder, a finished job with two takes to compare, a queued one, a failed
    one, a mix, a member, an invitation, a provider key and a token; and another team's job
    awaiting review."""
    owner = make_user("ada@example.com")
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    team = Membership.objects.get(user=owner).team
    member = make_user("bo@example.com")
    Membership.objects.create(user=member, team=team, role=Membership.Role.MEMBER)
    folder = Folder.objects.create(team=team, name="Demos")
    done = make_finished_job(
        owner, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "a", name="Caves, sung"
    )
    project = done.project
    Project.objects.filter(pk=project.pk).update(folder=folder, description="Take one, live")
    again = make_finished_job(
        owner, mixture, StemSet.FOREGROUND_BACKGROUND, tmp_path / "b", project=project
    )
    queued = make_job(owner, mixture, name="Still waiting")
    failed = make_job(owner, mixture, name="Broke")
    failed.mark_failed("FineVoice answered 401: the team's API key was refused")
    invitation, mix = furnish(
        owner, done, invitee="cy@example.com", camb_key="a-camb-key", token="nightly batch"
    )
    reviewed = make_user("rev@example.com")
    Team.objects.filter(memberships__user=reviewed).update(requires_review=True)
    make_finished_job(reviewed, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "c")
    return {
        "owner": owner,
        "invitation": invitation,
        "job_id": done.pk,
        "again_id": again.pk,
        "queued_id": queued.pk,
        "failed_id": failed.pk,
        "project_id": project.public_id,
        "folder_id": folder.public_id,
        "stem_id": done.stems.first().public_id,
        "team_id": team.public_id,
        "membership_id": Membership.objects.get(user=member, team=team).public_id,
        "invitation_id": invitation.public_id,
        "token": invitation_token(invitation),
        "token_id": ApiToken.objects.get().public_id,
        "provider": "camb",
        "fmt": "mp3",
        "mix_id": mix.public_id,
    }


def _pages(world) -> dict[str, str]:
    """What is checked, signed in as the owner: every page by its URL name, and the states of a
    page that look different (label: path)."""
    project, job = world["project_id"], world["job_id"]
    return {
        "dashboard": reverse("dashboard"),
        "folder_detail": reverse("folder_detail", args=[world["folder_id"]]),
        "upload": reverse("upload"),
        "upload in a folder": f"{reverse('upload')}?folder={world['folder_id']}",
        "project_detail": reverse("project_detail", args=[project]),
        "project_detail comparing two takes": (
            f"{reverse('project_detail', args=[project])}?compare={world['again_id']}"
        ),
        "project_delete": reverse("project_delete", args=[project]),
        "job_detail": reverse("job_detail", args=[job]),
        "job_detail queued": reverse("job_detail", args=[world["queued_id"]]),
        "job_detail failed": reverse("job_detail", args=[world["failed_id"]]),
        "user_settings": reverse("user_settings"),
        "api_tokens": reverse("api_tokens"),
        "teams": reverse("teams"),
        "team_settings": reverse("team_settings"),
        "team_usage": reverse("team_usage"),
        "review_queue": reverse("review_queue"),
        "api-v1:openapi-view": reverse("api-v1:openapi-view"),
        "account_email": reverse("account_email"),
        "account_change_password": reverse("account_change_password"),
        "account_logout": reverse("account_logout"),
        "invitation_accept": reverse("invitation_accept", args=[world["token"]]),
        "account_reauthenticate": reverse("account_reauthenticate"),
        "folder_delete": reverse("folder_delete", args=[world["folder_id"]]),
        "team_delete": reverse("team_delete"),
    }


def _anonymous_pages(world) -> dict[str, str]:
    return {
        "account_login": reverse("account_login"),
        "account_signup": reverse("account_signup"),
        "account_reset_password": reverse("account_reset_password"),
        "invitation_accept signed out": reverse("invitation_accept", args=[world["token"]]),
        "account_inactive": reverse("account_inactive"),
        "account_email_verification_sent": reverse("account_email_verification_sent"),
        "account_reset_password_done": reverse("account_reset_password_done"),
        "account_reset_password_from_key_done": reverse("account_reset_password_from_key_done"),
    }


def _is_page(response) -> bool:
    return (
        response.status_code == 200
        and response["Content-Type"].startswith("text/html")
        and b"<html" in response.content[:500].lower()
    )


def test_every_page_is_checked(world):
    """Every route that answers a full page to the owner or to nobody is in the lists above."""
    checked = {label.split(" ")[0] for label in {**_pages(world), **_anonymous_pages(world)}}
    signed_in = Client()
    signed_in.force_login(world["owner"])
    unchecked = []
    for route, pattern, name in site_routes():
        if route.startswith(NOT_OURS) or name in checked or name in MAILED:
            continue
        params = list(pattern.pattern.converters) or list(pattern.pattern.regex.groupindex)
        url = reverse(name, kwargs={p: world[p] for p in params})
        for client in (signed_in, Client()):
            if _is_page(client.get(url)):
                unchecked.append(f"{name} {url}")
                break
    assert unchecked == [], "\n".join(unchecked)
    assert len(checked) >= 20


def _check(page, live_server, pages, axe_source, ready="main") -> dict[str, list[str]]:
    """axe-core's violations on each of ``pages`` (label: path), once the page shows ``ready``
    (or its own selector in ``READY``); the pages with any."""
    found = {}
    for label, path in pages.items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, f"{label}: {response.status}"
        page.wait_for_selector(READY.get(label, ready))
        found[label] = axe_violations(page, axe_source)
    return {label: v for label, v in found.items() if v}


def test_no_serious_or_critical_violations_signed_in(
    page, live_server, world, axe_source, csp_violations
):
    page.set_default_timeout(20_000)
    sign_in(page, live_server, world["owner"])
    found = _check(page, live_server, _pages(world), axe_source)
    # The API docs with an operation open: its parameters, body schema and responses.
    page.goto(f"{live_server.url}{reverse('api-v1:openapi-view')}")
    page.click(".opblock-post .opblock-summary-control")
    page.wait_for_selector(".opblock-post .opblock-body .responses-wrapper")
    found["api docs, an operation open"] = axe_violations(page, axe_source)
    found = {label: v for label, v in found.items() if v}
    assert found == {}, pformat(found, width=200)
    assert csp_violations == []


def test_no_serious_or_critical_violations_signed_out(
    page, live_server, world, axe_source, mailoutbox, csp_violations
):
    page.set_default_timeout(20_000)
    found = _check(page, live_server, _anonymous_pages(world), axe_source)

    def check_after(label: str, url_part: str) -> None:
        page.wait_for_url(f"**{url_part}")
        page.wait_for_selector("main")
        found[label] = axe_violations(page, axe_source)

    def mailed_link(path_part: str) -> str:
        links = re.findall(rf"https?://\S+{path_part}\S+", mailoutbox[-1].body)
        assert links, mailoutbox[-1].body
        return links[0]

    # The pages behind a mailed link: a new password, then a confirmed address.
    page.goto(f"{live_server.url}{reverse('account_reset_password')}")
    page.fill("input[name=email]", "ada@example.com")
    page.click("main button[type=submit]")
    page.wait_for_url(f"**{reverse('account_reset_password_done')}")
    page.goto(mailed_link("/password/reset/key/"))
    check_after("account_reset_password_from_key", "/password/reset/key/**")

    # Forms answered with errors, then a sign-up whose confirmation mail is followed.
    page.goto(f"{live_server.url}{reverse('account_signup')}")
    page.fill("input[name=email]", "new@example.com")
    page.fill("input[name=password1]", "a long listening passphrase")
    page.fill("input[name=password2]", "another passphrase entirely")
    page.click("main button[type=submit]")
    page.wait_for_selector("main .errorlist, main [role=alert], main .error")
    found["account_signup with errors"] = axe_violations(page, axe_source)
    for field in ("password1", "password2"):  # a form with errors comes back without them
        page.fill(f"input[name={field}]", "a long listening passphrase")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(mailed_link("/confirm-email/"))
    check_after("account_confirm_email", "/confirm-email/**")

    found = {label: v for label, v in found.items() if v}
    assert found == {}, pformat(found, width=200)
    assert csp_violations == []


def _admin_pages(world) -> dict[str, str]:
    """The staff's pages: Django's admin, where jobs are reviewed, and the queue pages."""
    return {
        "admin:index": reverse("admin:index"),
        "admin:jobs_separationjob_changelist": reverse("admin:jobs_separationjob_changelist"),
        "admin:jobs_separationjob_change": reverse(
            "admin:jobs_separationjob_change", args=[world["job_id"]]
        ),
        "queue_health": reverse("queue_health"),
        "django_rq:home": reverse("django_rq:home"),
    }


def test_no_serious_or_critical_violations_for_staff(page, live_server, world, axe_source):
    page.set_default_timeout(20_000)
    sign_in(page, live_server, world["owner"])
    found = _check(page, live_server, _admin_pages(world), axe_source, ready="#content, main")
    assert found == {}, pformat(found, width=200)
