"""Listing rows whose latest job is unfinished refresh in place: one poll for all of them, the
rows swapped in out of band, a 304 while nothing changed, and no poll once none is left."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from jobs.models import SeparationJob
from jobs.services import job_create
from providers.stemsets import StemSet
from tests.fixtures import make_finished_job, make_job, make_project

pytestmark = pytest.mark.django_db
Status = SeparationJob.Status
HTMX = {"HTTP_HX_REQUEST": "true"}


def _poller(html: str) -> str:
    return re.search(r'<div id="live-rows"[^>]*>', html).group(0)


def test_rows_link_to_the_project_page_and_only_unfinished_ones_are_polled(
    logged_in, user, mixture, tmp_path
):
    done = make_finished_job(user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "s")
    waiting = make_job(user, mixture, name="Waiting")
    make_project(user, mixture, name="Never separated")
    html = logged_in.get(reverse("dashboard")).content.decode()
    for project in (done.project, waiting.project):
        assert f'href="{reverse("project_detail", args=[project.public_id])}">' in html
    poller = _poller(html)
    assert f'hx-get="{reverse("project_rows")}?p={waiting.project.public_id}"' in poller
    assert 'hx-trigger="every 2s, stemweb:visible from:document"' in poller


def test_the_poll_answers_the_rows_out_of_band_and_stops_when_none_is_left(
    logged_in, user, mixture
):
    first, second = make_job(user, mixture, name="First"), make_job(user, mixture, name="Second")
    url = f"{reverse('project_rows')}?p={first.project.public_id}&p={second.project.public_id}"
    answer = logged_in.get(url, **HTMX)
    body = answer.content.decode()
    assert "<html" not in body and "<template>" in body
    assert body.count('hx-swap-oob="true"') == 2 and 'data-status="queued"' in body
    assert "hx-trigger" in _poller(body)
    assert logged_in.get(url, HTTP_IF_NONE_MATCH=answer["ETag"], **HTMX).status_code == 304

    SeparationJob.objects.filter(pk=first.pk).update(status=Status.RUNNING)
    body = logged_in.get(url, HTTP_IF_NONE_MATCH=answer["ETag"], **HTMX).content.decode()
    row = re.search(rf'<tr id="row-{first.project.public_id}".*?</tr>', body, re.DOTALL)
    assert 'data-status="running"' in row.group(0) and "Running" in row.group(0)

    SeparationJob.objects.update(status=Status.SUCCEEDED)
    body = logged_in.get(url, **HTMX).content.decode()
    assert body.count('data-status="succeeded"') == 2
    assert _poller(body) == '<div id="live-rows" hidden>'  # no trigger: polling stops


def test_a_new_job_on_a_finished_project_shows_in_its_row(logged_in, user, mixture, tmp_path):
    done = make_finished_job(user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "s")
    url = f"{reverse('project_rows')}?p={done.project.public_id}"
    assert "hx-trigger" not in _poller(logged_in.get(url, **HTMX).content.decode())
    job_create(
        project=done.project, user=user, provider_key="local", stem_set=StemSet.VOCALS_INSTRUMENTAL
    )
    body = logged_in.get(url, **HTMX).content.decode()
    assert 'data-status="queued"' in body and "Local engine" in body


def test_another_teams_rows_are_not_shown_and_malformed_ids_are_404(logged_in, other_user, mixture):
    theirs = make_job(other_user, mixture, name="Theirs")
    body = logged_in.get(f"{reverse('project_rows')}?p={theirs.project.public_id}", **HTMX)
    assert "Theirs" not in body.content.decode() and "hx-trigger" not in body.content.decode()
    assert logged_in.get(f"{reverse('project_rows')}?p=../etc", **HTMX).status_code == 404
