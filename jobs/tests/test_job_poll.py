"""The status fragment's poll: a 304 when nothing it shows changed, with access as strict."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import SeparationJob
from tests.fixtures import poll_status as poll

Status = SeparationJob.Status
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_a_running_job_fragment_carries_an_etag_the_browser_revalidates(logged_in, running_job):
    response = poll(logged_in, running_job)
    assert response.status_code == 200 and response["ETag"].startswith('"')
    assert "private" in response["Cache-Control"] and "no-cache" in response["Cache-Control"]
    assert "HX-Request" in response["Vary"] and "Cookie" in response["Vary"]


@pytest.mark.django_db(transaction=True)  # no test transaction: no savepoint around the query
def test_an_unchanged_poll_gets_304_with_the_same_etag_and_renders_nothing(
    logged_in, running_job, django_assert_max_num_queries
):
    etag = poll(logged_in, running_job)["ETag"]
    with django_assert_max_num_queries(2):  # jobs.polling answers with one (test_polling.py)
        response = poll(logged_in, running_job, etag)
    assert response.status_code == 304 and response["ETag"] == etag
    assert response.content == b"" and response.templates == []
    assert "no-cache" in response["Cache-Control"]


def test_progress_gives_a_200_with_a_new_etag(logged_in, running_job):
    etag = poll(logged_in, running_job)["ETag"]
    SeparationJob.objects.filter(pk=running_job.pk).update(progress=0.5)
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and response["ETag"] != etag
    assert "50 %" in response.content.decode()
    assert poll(logged_in, running_job, response["ETag"]).status_code == 304


def test_an_error_or_the_end_of_the_job_is_never_a_304(logged_in, running_job):
    etag = poll(logged_in, running_job)["ETag"]
    SeparationJob.objects.filter(pk=running_job.pk).update(error="provider said 503, retrying")
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and "provider said 503" in response.content.decode()
    running_job.refresh_from_db()
    running_job.mark_failed("gave up")
    response = poll(logged_in, running_job, response["ETag"])
    assert response.status_code == 200 and "ETag" not in response  # polling stops here
    assert "hx-trigger" not in response.content.decode() and "gave up" in response.content.decode()


def test_the_elapsed_clock_ticks_in_the_browser_not_in_the_etag(logged_in, running_job):
    html = poll(logged_in, running_job).content.decode()
    started = SeparationJob.objects.get(pk=running_job.pk).started
    assert f'data-started="{int(started.timestamp())}"' in html


def test_the_etag_depends_on_who_looks(logged_in, user, running_job):
    etag = poll(logged_in, running_job)["ETag"]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200
    assert response["ETag"] != etag and 'id="job-status"' in response.content.decode()


def test_a_non_member_with_a_guessed_etag_gets_404_not_304(
    client, logged_in, other_user, running_job
):
    etag = poll(logged_in, running_job)["ETag"]
    client.force_login(other_user)
    assert poll(client, running_job, etag).status_code == 404


def test_a_signed_out_poll_with_an_etag_is_sent_to_log_in(logged_in, running_job):
    etag = poll(logged_in, running_job)["ETag"]
    logged_in.logout()
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_the_view_renders_the_fragment_or_its_304_with_two_queries(
    logged_in, running_job, django_assert_num_queries, settings
):
    settings.STEMWEB_POLL_SHORTCUT = False  # every poll to the view
    with django_assert_num_queries(2):  # the session's user, the job through the membership
        response = poll(logged_in, running_job)
    assert response.status_code == 200
    with django_assert_num_queries(2):
        assert poll(logged_in, running_job, response["ETag"]).status_code == 304
