"""The status poll's early answer (jobs.polling.StatusPollMiddleware): a session that got its
ETag from the job view gets its unchanged polls answered 304 before the session middleware,
with one query and no Redis; a changed job, a logged-out, removed, deactivated or re-passworded
user, another browser, another user, a forged ETag and anything but the status poll go on to
the view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from jobs.models import SeparationJob
from jobs.polling import _database_sessions
from tests.fixtures import poll_status as poll

Status = SeparationJob.Status
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def answered_early(response) -> bool:
    """The middleware answered: the session middleware never saw the request."""
    return not hasattr(response.wsgi_request, "session")


def granted(client, job) -> str:
    """Poll as the page does until the middleware answers; returns the ETag."""
    etag = poll(client, job)["ETag"]  # the view: 200, and this session's ETag
    response = poll(client, job, etag)
    assert response.status_code == 304 and answered_early(response)
    return etag


@pytest.mark.django_db(transaction=True)  # no test transaction: no savepoint around the query
def test_an_unchanged_poll_is_answered_before_the_session_middleware_with_one_query(
    logged_in, running_job, django_assert_num_queries
):
    first = poll(logged_in, running_job)
    assert first.status_code == 200 and not answered_early(first)
    with django_assert_num_queries(1):  # the job's state with the member's row
        response = poll(logged_in, running_job, first["ETag"])
    assert response.status_code == 304 and answered_early(response)
    assert response["ETag"] == first["ETag"] and response.content == b""
    assert "Set-Cookie" not in response.headers and response.templates == []


def test_it_asks_nothing_of_redis(logged_in, running_job, monkeypatch):
    etag = granted(logged_in, running_job)
    calls = []
    for name in ("get", "get_many"):
        real = getattr(cache, name)
        monkeypatch.setattr(
            cache,
            name,
            lambda *a, _real=real, _name=name, **k: (calls.append(_name), _real(*a, **k))[1],
        )
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 304 and answered_early(response)
    assert calls == []


def test_its_304_carries_the_views_headers(logged_in, running_job, settings):
    settings.STEMWEB_POLL_SHORTCUT = False  # the view answers
    etag = poll(logged_in, running_job)["ETag"]
    by_view = poll(logged_in, running_job, etag)
    assert by_view.status_code == 304 and not answered_early(by_view)
    settings.STEMWEB_POLL_SHORTCUT = True
    early = poll(logged_in, running_job, etag)
    assert early.status_code == 304 and answered_early(early)
    for header in ("ETag", "Cache-Control"):
        assert early[header] == by_view[header], header
    assert {v.strip() for v in early["Vary"].split(",")} == {
        v.strip() for v in by_view["Vary"].split(",")
    }


def test_a_changed_job_gets_its_new_fragment_from_the_view(logged_in, running_job):
    etag = granted(logged_in, running_job)
    SeparationJob.objects.filter(pk=running_job.pk).update(progress=0.5)
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and not answered_early(response)
    assert "50 %" in response.content.decode() and response["ETag"] != etag
    again = poll(logged_in, running_job, response["ETag"])
    assert again.status_code == 304 and answered_early(again)


def test_the_end_of_the_job_gets_the_final_fragment(logged_in, running_job):
    etag = granted(logged_in, running_job)
    running_job.refresh_from_db()
    running_job.mark_failed("gave up")
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and "gave up" in response.content.decode()
    assert "hx-trigger" not in response.content.decode() and "ETag" not in response


def test_after_logging_out_the_old_cookie_is_sent_to_log_in(logged_in, running_job):
    etag = granted(logged_in, running_job)
    session_key = logged_in.cookies[settings.SESSION_COOKIE_NAME].value
    logged_in.logout()
    logged_in.cookies[settings.SESSION_COOKIE_NAME] = session_key  # a copy kept somewhere
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_another_browser_of_the_same_user_gets_its_own_etag(logged_in, user, running_job):
    etag = granted(logged_in, running_job)
    other_browser = Client()
    other_browser.force_login(user)
    response = poll(other_browser, running_job, etag)
    assert response.status_code == 200 and not answered_early(response)  # the view renders
    assert response["ETag"] != etag
    assert answered_early(poll(other_browser, running_job, response["ETag"]))


def test_a_forged_or_misshapen_etag_goes_to_the_view(logged_in, other_user, running_job):
    Membership.objects.create(team=running_job.project.team, user=other_user)
    etag = granted(logged_in, running_job)
    user_id, mac = etag.strip('"').split(".")
    forged = f'"{user_id}.{"0" * 32}"'
    another_member = f'"{other_user.pk}.{mac}"'  # a member, but the MAC names the first user
    for sent in (forged, another_member, f'"{"9" * 18}.{mac}"'):
        response = poll(logged_in, running_job, sent)
        assert response.status_code == 200 and not answered_early(response), sent
    for sent in (f"W/{etag}", f"{forged}, {etag}"):  # the view's weak comparison matches them
        response = poll(logged_in, running_job, sent)
        assert response.status_code == 304 and not answered_early(response), sent


def test_a_session_that_expired_goes_to_the_view(logged_in, running_job):
    etag = granted(logged_in, running_job)
    session_model = logged_in.session.get_model_class()
    session_model.objects.filter(session_key=logged_in.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    cache.clear()  # cached_db would still find it in the cache, with its own expiry
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 302 and not answered_early(response)


def test_if_match_or_if_unmodified_since_goes_to_the_view(logged_in, running_job):
    etag = granted(logged_in, running_job)
    response = poll(logged_in, running_job, etag, HTTP_IF_MATCH='"something-else"')
    assert response.status_code == 412 and not answered_early(response)
    since = "Sat, 01 Jan 2000 00:00:00 GMT"
    response = poll(logged_in, running_job, etag, HTTP_IF_UNMODIFIED_SINCE=since)
    assert not answered_early(response)


def test_a_new_secret_key_sends_the_poll_to_the_view_once(logged_in, running_job, settings):
    etag = granted(logged_in, running_job)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "y" * 40
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and not answered_early(response)  # still signed in
    assert answered_early(poll(logged_in, running_job, response["ETag"]))


def test_a_removed_authentication_backend_sends_the_poll_to_the_view(
    logged_in, running_job, settings
):
    etag = granted(logged_in, running_job)
    settings.AUTHENTICATION_BACKENDS = settings.AUTHENTICATION_BACKENDS[:1]  # the session's
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and not answered_early(response)
    assert response["ETag"] != etag


def test_another_user_with_the_etag_gets_404(client, logged_in, other_user, running_job):
    etag = granted(logged_in, running_job)
    client.force_login(other_user)
    response = poll(client, running_job, etag)
    assert response.status_code == 404 and not answered_early(response)


def test_a_member_removed_from_the_team_gets_404_at_once(
    client, user, other_user, running_job, settings
):
    team = running_job.project.team
    Membership.objects.create(team=team, user=other_user, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    etag = granted(client, running_job)
    Membership.objects.filter(team=team, user=other_user).delete()
    response = poll(client, running_job, etag)
    assert response.status_code == 404 and not answered_early(response)


def test_a_password_changed_elsewhere_logs_this_session_out_at_once(logged_in, user, running_job):
    etag = granted(logged_in, running_job)
    user.set_password("another-long-passphrase-43")
    user.save()
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]
    assert poll(logged_in, running_job, etag).status_code == 302  # the session is gone


def test_a_deactivated_user_is_sent_to_log_in(logged_in, user, running_job):
    etag = granted(logged_in, running_job)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 302 and not answered_early(response)


def test_a_staff_flag_change_gets_a_new_fragment(logged_in, user, running_job):
    etag = granted(logged_in, running_job)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 200 and response["ETag"] != etag


def test_switched_off_the_view_answers_every_poll(logged_in, running_job, settings):
    settings.STEMWEB_POLL_SHORTCUT = False
    etag = poll(logged_in, running_job)["ETag"]
    for _ in range(2):
        response = poll(logged_in, running_job, etag)
        assert response.status_code == 304 and not answered_early(response)


def test_only_the_status_poll_is_answered_early(logged_in, running_job):
    etag = granted(logged_in, running_job)
    url = reverse("job_detail", args=[running_job.pk])
    page = logged_in.get(url, HTTP_IF_NONE_MATCH=etag)  # the page itself, not htmx
    assert page.status_code == 200 and "<html" in page.content.decode()
    mixes = logged_in.get(url + "?part=mixes", HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert mixes.status_code == 200 and not answered_early(mixes)
    posted = logged_in.post(url, HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert posted.status_code == 412 and not answered_early(posted)  # the view: precondition


def test_a_host_not_allowed_is_refused_as_the_view_refuses_it(logged_in, running_job):
    etag = granted(logged_in, running_job)
    response = poll(logged_in, running_job, etag, HTTP_HOST="evil.example.com")
    assert response.status_code == 400


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_on_postgresql_its_query_alone_is_prepared(logged_in, running_job):
    etag = granted(logged_in, running_job)
    for _ in range(6):  # more than psycopg's usual threshold
        assert answered_early(poll(logged_in, running_job, etag))
        poll(logged_in, running_job)  # the view's queries, the same each time
    statements = prepared_statements()
    assert len(statements) == 1 and '"django_session"' in statements[0]
    assert '"jobs_separationjob"' in statements[0]


def test_it_looks_for_the_session_only_in_a_database_backed_engine():
    engines = "django.contrib.sessions.backends."
    assert _database_sessions(engines + "db") and _database_sessions(engines + "cached_db")
    assert not _database_sessions(engines + "cache")
    assert not _database_sessions(engines + "signed_cookies")


def drop_prepared_statement() -> None:
    """Deallocate the poll's statement behind psycopg's back, as a pooler might lose it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        (name,) = cursor.fetchone()
        cursor.execute(f"DEALLOCATE {name}")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
@pytest.mark.parametrize(
    "in_transaction",
    [pytest.param(True, id="in-a-transaction"),
     pytest.param(False, id="autocommit", marks=pytest.mark.django_db(transaction=True))],
)  # fmt: skip
def test_a_failing_query_leaves_the_poll_to_the_view(
    logged_in, running_job, caplog, in_transaction
):
    etag = granted(logged_in, running_job)
    assert connection.in_atomic_block is in_transaction
    drop_prepared_statement()
    response = poll(logged_in, running_job, etag)
    assert response.status_code == 304 and not answered_early(response)
    assert "the early answer's query failed" in caplog.text
    assert answered_early(poll(logged_in, running_job, etag))  # prepared again
