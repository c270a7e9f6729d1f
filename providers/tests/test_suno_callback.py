"""The Suno-style callback endpoint: forgeries, replays and malformed bodies change nothing."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.urls import reverse

from accounts.models import Membership
from jobs.models import JobEvent, SeparationJob
from library.models import Project

pytestmark = pytest.mark.django_db
Status = SeparationJob.Status
GOOD = {
    "code": 200,
    "msg": "vocal removal completed",
    "data": {
        "task_id": "t-1",
        "vocal_removal_info": {
            "origin_url": "https://cdn.example/o.mp3",
            "vocal_url": "https://cdn.example/v.mp3",
            "instrumental_url": "https://cdn.example/i.mp3",
        },
    },
}


@pytest.fixture
def running(user):
    team = Membership.objects.get(user=user).team
    project = Project.objects.create(
        team=team, name="t", platform_task_id="p", platform_audio_id="a"
    )
    return SeparationJob.objects.create(
        project=project,
        provider="suno",
        stem_set="vocals_instrumental",
        status=Status.RUNNING,
        provider_task_id="t-1",
    )


def _post(client, job_id, token, body):
    url = reverse("provider_callback", args=["suno", job_id, token])
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def _unchanged(job):
    job.refresh_from_db()
    return (
        job.callback_payload is None
        and job.events.count() == 0
        and django_rq.get_queue("default").count == 0
    )


def test_a_good_callback_is_stored_and_enqueued_not_downloaded(client, running):
    response = _post(client, running.pk, running.callback_token, GOOD)
    assert response.status_code == 200
    running.refresh_from_db()
    assert running.callback_payload == GOOD and running.stems.count() == 0
    assert running.status == Status.RUNNING  # the worker collects, not the request
    assert django_rq.get_queue("default").count == 1
    event = running.events.get()
    assert event.kind == JobEvent.Kind.CALLBACK and running.callback_token not in event.url


def test_a_replay_changes_nothing_and_answers_200(client, running):
    _post(client, running.pk, running.callback_token, GOOD)
    other = {**GOOD, "msg": "replayed with other links"}
    assert _post(client, running.pk, running.callback_token, other).status_code == 200
    running.refresh_from_db()
    assert running.callback_payload == GOOD
    assert django_rq.get_queue("default").count == 1


def test_a_wrong_token_is_404(client, running):
    assert _post(client, running.pk, "x" * 43, GOOD).status_code == 404
    assert _unchanged(running)


def test_another_jobs_token_is_404(client, running):
    other = SeparationJob.objects.create(
        project=running.project, provider="suno", stem_set="vocals_instrumental"
    )
    assert _post(client, running.pk, other.callback_token, GOOD).status_code == 404
    assert _unchanged(running)


def test_an_unknown_job_is_404(client, running):
    import uuid

    assert _post(client, uuid.uuid4(), running.callback_token, GOOD).status_code == 404
    assert _unchanged(running)


def test_a_job_of_another_provider_is_404(client, running):
    SeparationJob.objects.filter(pk=running.pk).update(provider="camb")
    assert _post(client, running.pk, running.callback_token, GOOD).status_code == 404
    assert _unchanged(running)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        [],
        {"code": "200", "data": {}},
        {"code": 200},
        {"code": 200, "data": "x"},
        {"code": 200, "data": {"task_id": "someone-elses-task"}},
    ],
)
def test_malformed_bodies_are_400(client, running, body):
    assert _post(client, running.pk, running.callback_token, body).status_code == 400
    assert _unchanged(running)


def test_only_post_is_accepted(client, running):
    url = reverse("provider_callback", args=["suno", running.pk, running.callback_token])
    assert client.get(url).status_code == 405


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**GOOD, "code": -1}, "code -1 is not a status code"),
        ({**GOOD, "code": 2**70}, "is not a status code"),
        ({**GOOD, "code": True}, "expected {code, msg, data}"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["negative-code", "huge-code", "boolean-code", "deeply-nested"],
)
def test_out_of_range_codes_and_deep_nesting_answer_400_and_change_nothing(
    client, running, body, reason
):
    response = _post(client, running.pk, running.callback_token, body)
    assert response.status_code == 400 and reason in response.json()["error"]
    assert _unchanged(running)
