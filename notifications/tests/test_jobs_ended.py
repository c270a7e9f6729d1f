"""GET /jobs/ended/: the jobs the signed-in person started, in teams they still belong to, that
ended (not canceled) after ``since``, for notify.js to turn into browser notifications."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Team, User
from jobs.models import SeparationJob
from library.models import Project
from notifications.selectors import LIMIT, LOOKBACK, SETTLE
from providers.stemsets import StemSet

pytestmark = pytest.mark.django_db
Status = SeparationJob.Status
URL = reverse("jobs_ended")


def _team_of(user: User) -> Team:
    return Membership.objects.select_related("team").get(user=user, team__is_personal=True).team


def _job(
    user: User,
    *,
    status: str = Status.SUCCEEDED,
    ended_ago_s: float | None = 10,
    team: Team | None = None,
    name: str = "Song",
    error: str = "",
) -> SeparationJob:
    """A job of ``user`` on a project of ``team`` (their personal one), ended ``ended_ago_s``
    seconds ago as a worker ends it (status, error and ``finished`` in one update)."""
    project = Project.objects.create(team=team or _team_of(user), name=name, created_by=user)
    job = SeparationJob.objects.create(
        project=project,
        provider="local",
        stem_set=StemSet.FOREGROUND_BACKGROUND,
        created_by=user,
        status=Status.RUNNING,
    )
    if ended_ago_s is not None:
        SeparationJob.objects.filter(pk=job.pk).update(
            status=status, error=error, finished=timezone.now() - timedelta(seconds=ended_ago_s)
        )
    return job


def _ended(client, since: datetime | str | None) -> dict:
    params = (
        {} if since is None else {"since": since if isinstance(since, str) else since.isoformat()}
    )
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]  # never a cached answer
    return response.json()


def test_the_first_call_has_no_jobs_only_the_time_to_ask_from(logged_in, user):
    _job(user)
    before = timezone.now()
    answer = _ended(logged_in, None)
    assert answer["jobs"] == []
    now = datetime.fromisoformat(answer["now"])
    assert before - SETTLE - timedelta(seconds=1) < now <= timezone.now() - SETTLE


def test_it_lists_own_jobs_that_ended_after_since_with_their_wording(logged_in, user):
    since = timezone.now() - timedelta(seconds=60)
    _job(user, name="Too early", ended_ago_s=120)
    done = _job(user, name="Caves, sung", ended_ago_s=30)
    failed = _job(
        user, name="Broken", status=Status.FAILED, ended_ago_s=20, error="Unsupported file."
    )
    slow = _job(user, name="Slow", status=Status.TIMED_OUT, ended_ago_s=15, error="")
    _job(user, name="Stopped", status=Status.CANCELED, ended_ago_s=15)
    _job(user, name="Still running", ended_ago_s=None)
    _job(user, name="Just now", ended_ago_s=0)  # not settled yet: in a later answer

    answer = _ended(logged_in, since)

    assert answer["jobs"] == [
        {
            "id": str(done.pk),
            "url": f"/jobs/{done.pk}/",
            "status": "succeeded",
            "project": "Caves, sung",
            "title": "“Caves, sung” is separated",
            "body": "Foreground / background by Local engine.",
        },
        {
            "id": str(failed.pk),
            "url": f"/jobs/{failed.pk}/",
            "status": "failed",
            "project": "Broken",
            "title": "“Broken” failed",
            "body": "Unsupported file.",
        },
        {
            "id": str(slow.pk),
            "url": f"/jobs/{slow.pk}/",
            "status": "timed_out",
            "project": "Slow",
            "title": "“Slow” timed out",
            "body": "No reason was given.",
        },
    ]


def test_a_job_that_ends_between_two_calls_is_in_the_second_only(logged_in, user):
    first = _ended(logged_in, None)
    job = _job(user, ended_ago_s=None)
    time.sleep(0.01)  # the second call's time to ask until is 10 ms later, at least
    SeparationJob.objects.filter(pk=job.pk).update(
        status=Status.SUCCEEDED,
        finished=datetime.fromisoformat(first["now"]) + timedelta(milliseconds=5),
    )
    second = _ended(logged_in, first["now"])
    assert [j["id"] for j in second["jobs"]] == [str(job.pk)]
    assert _ended(logged_in, second["now"])["jobs"] == []


def test_it_never_lists_other_peoples_jobs_nor_a_left_teams(logged_in, user, other_user):
    since = timezone.now() - timedelta(seconds=60)
    band = Team.objects.create(name="Band")
    Membership.objects.create(team=band, user=user, role=Membership.Role.MEMBER)
    Membership.objects.create(team=band, user=other_user, role=Membership.Role.OWNER)
    _job(other_user, name="Mallory's own")
    _job(other_user, name="Mallory's in the band", team=band)
    mine_in_band = _job(user, name="Mine in the band", team=band)
    assert [j["id"] for j in _ended(logged_in, since)["jobs"]] == [str(mine_in_band.pk)]

    Membership.objects.filter(team=band, user=user).delete()  # left the band
    assert _ended(logged_in, since)["jobs"] == []


def test_a_held_job_says_its_stems_await_review(logged_in, user):
    since = timezone.now() - timedelta(seconds=60)
    Team.objects.filter(pk=_team_of(user).pk).update(requires_review=True)
    _job(user)
    body = _ended(logged_in, since)["jobs"][0]["body"]
    assert body == "Foreground / background by Local engine. Its stems await staff review."


def test_an_old_cursor_counts_as_the_lookback_and_at_most_the_latest_are_listed(logged_in, user):
    _job(user, name="Last week", ended_ago_s=7 * 86400)
    _job(user, name="Before the lookback", ended_ago_s=LOOKBACK.total_seconds() + 60)
    for n in range(LIMIT + 2):
        _job(user, name=f"Take {n}", ended_ago_s=60 - n)
    answer = _ended(logged_in, timezone.now() - timedelta(days=30))
    assert [j["project"] for j in answer["jobs"]] == [f"Take {n}" for n in range(2, LIMIT + 2)]


def test_it_takes_one_query_for_the_jobs_however_many(logged_in, user, django_assert_num_queries):
    since = timezone.now() - timedelta(seconds=60)
    for n in range(5):
        _job(user, name=f"Take {n}")
    _ended(logged_in, since)  # the session is cached from here on
    with django_assert_num_queries(2) as queries:  # the signed-in user, then the jobs
        assert len(_ended(logged_in, since)["jobs"]) == 5
    jobs_query = queries.captured_queries[-1]["sql"]
    assert '"jobs_separationjob"."created_by_id"' in jobs_query and "LIMIT 20" in jobs_query


@pytest.mark.parametrize("since", ["yesterday", "2025-02-30T10:00:00+00:00", "2025-01-01T10:00:00"])
def test_a_since_that_is_not_a_time_with_an_offset_is_400(logged_in, since):
    response = logged_in.get(URL, {"since": since})
    assert response.status_code == 400
    assert "since" in response.json()["error"]


def test_it_needs_a_login_and_a_get(logged_in):
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert logged_in.post(URL).status_code == 405
