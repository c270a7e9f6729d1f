"""Uploads and job creation are rate limited per user and per team, with a clear message."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Membership
from jobs.models import SeparationJob
from library.models import Project
from stemweb.lib.ratelimit import Rate
from tests.fixtures import make_project, make_user

pytestmark = pytest.mark.django_db


def _upload(client, path):
    with open(path, "rb") as fh:
        return client.post(
            reverse("upload"),
            {"file": fh, "provider": "local", "stem_set": "foreground_background"},
        )


def test_the_fourth_upload_in_a_minute_is_429_and_stores_nothing(logged_in, mixture, settings):
    settings.STEMWEB_UPLOAD_RATE_USER = "3/60"
    for _ in range(3):
        assert _upload(logged_in, mixture).status_code == 302
    response = _upload(logged_in, mixture)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many uploads: you may make 3 uploads every 60 s. Try again in" in page
    assert Project.objects.count() == 3 and SeparationJob.objects.count() == 3


def test_a_teams_limit_counts_every_member(client, user, mixture, settings):
    settings.STEMWEB_UPLOAD_RATE_TEAM = "2/60"
    team = Membership.objects.get(user=user).team
    colleague = make_user("col@example.com")
    Membership.objects.create(team=team, user=colleague, role=Membership.Role.MEMBER)
    client.force_login(user)
    assert _upload(client, mixture).status_code == 302
    client.force_login(colleague)
    client.post(reverse("team_switch", args=[team.public_id]))
    assert _upload(client, mixture).status_code == 302
    response = _upload(client, mixture)
    assert (
        response.status_code == 429 and "your team may make 2 uploads" in response.content.decode()
    )


def test_bulk_separation_counts_each_job(logged_in, user, mixture, settings):
    settings.STEMWEB_JOB_RATE_USER = "2/60"
    projects = [make_project(user, mixture, name) for name in ("A", "B", "C")]
    response = logged_in.post(
        reverse("projects_bulk"),
        {
            "action": "separate",
            "projects": [p.public_id for p in projects],
            "provider": "local",
            "stem_set": "foreground_background",
        },
        follow=True,
    )
    assert "Nothing was queued. Too many jobs: you may make 2 jobs every 60 s" in (
        response.content.decode()
    )
    assert SeparationJob.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "rate"), [("10/60", Rate(10, 60)), ("", None), ("0", None), ("0/60", None)]
)
def test_rates_parse(text, rate):
    assert Rate.parse(text) == rate
