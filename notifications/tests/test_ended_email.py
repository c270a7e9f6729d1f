"""The email telling the person who started a job that it ended: only when they turned it on, not
for a canceled job nor a team they left, sent once per end however often the hook fires."""

from __future__ import annotations

import smtplib
import socket
import time

import django_rq
import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership, Team, User
from jobs import queues
from jobs.models import SeparationJob
from jobs.services import job_approve, job_cancel, job_ended, job_fail, job_flag, job_retry
from notifications.models import EndedJobEmail
from notifications.services import ended_email_enqueue, ended_email_send
from tests.fixtures import make_job
from tests.workers import work_due

pytestmark = pytest.mark.django_db
Status = SeparationJob.Status
SITE = "https://stems.example.com"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.STEMWEB_PUBLIC_URL = SITE
    settings.DEFAULT_FROM_EMAIL = "stemweb <noreply@stems.example.com>"


@pytest.fixture
def wants_email(user) -> User:
    User.objects.filter(pk=user.pk).update(email_when_job_ends=True)
    return User.objects.get(pk=user.pk)


def _succeed(job: SeparationJob) -> None:
    """End the job as a worker's collection does: the row, then the job-ended service."""
    SeparationJob.objects.filter(pk=job.pk).update(
        status=Status.SUCCEEDED, progress=1.0, finished=timezone.now()
    )
    job_ended(job)


def _queued_emails() -> list[str]:
    queue = django_rq.get_queue(queues.DEFAULT)
    return [j.id for j in queue.get_jobs() if j.func_name == queues.SEND_ENDED_EMAIL]


def test_a_failed_job_emails_its_starter_the_reason_and_a_link(
    wants_email, mixture, django_capture_on_commit_callbacks
):
    job = make_job(wants_email, mixture, name="Caves, sung")
    with django_capture_on_commit_callbacks(execute=True):
        job_fail(job, "The provider refused the file: 422 unsupported codec.")
    assert _queued_emails() == [f"ended-email-{job.pk}-0"]
    work_due()  # a real RQ worker, in-process

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ada@example.com"]
    assert email.from_email == "stemweb <noreply@stems.example.com>"
    assert email.subject == "stemweb: “Caves, sung” failed"
    assert "Outcome: Failed\nReason: The provider refused the file: 422 unsupported codec." in (
        email.body
    )
    assert f"Open the job:\n{SITE}/jobs/{job.pk}/\n" in email.body
    assert f"{SITE}/settings/" in email.body
    assert EndedJobEmail.objects.get().to == "ada@example.com"


def test_a_succeeded_job_says_so_without_a_reason(wants_email, mixture):
    job = make_job(wants_email, mixture, name="Rock & roll")
    _succeed(job)
    assert ended_email_send(job_id=str(job.pk), attempt=0)
    email = mail.outbox[0]
    assert email.subject == "stemweb: “Rock & roll” is separated"
    assert "Project: Rock & roll\n" in email.body  # not escaped as HTML
    assert "Outcome: Succeeded\n" in email.body and "Reason" not in email.body
    assert "Separation: Foreground / background by Local engine\n" in email.body


def test_the_hook_firing_twice_sends_one_email(wants_email, mixture):
    job = make_job(wants_email, mixture)
    job_fail(job, "Gone.")
    assert ended_email_enqueue(job_id=str(job.pk))
    assert not ended_email_enqueue(job_id=str(job.pk))  # its task waits already
    assert len(_queued_emails()) == 1
    work_due()
    assert ended_email_enqueue(job_id=str(job.pk))  # later: queued again, and sends nothing
    work_due()
    assert not ended_email_send(job_id=str(job.pk), attempt=0)
    assert len(mail.outbox) == 1 and EndedJobEmail.objects.count() == 1


def test_approved_flagged_and_approved_again_emails_once_at_the_first_approval(
    wants_email, other_user, mixture, django_capture_on_commit_callbacks
):
    Team.objects.filter(memberships__user=wants_email).update(requires_review=True)
    job = make_job(wants_email, mixture)
    with django_capture_on_commit_callbacks(execute=True):
        _succeed(job)  # held for review: nobody is told yet
    assert _queued_emails() == []
    for step in (job_approve, job_flag, job_approve):
        with django_capture_on_commit_callbacks(execute=True):
            step(job=job, actor=other_user, note="Checked." if step is job_approve else "Hum.")
        work_due()
    assert len(mail.outbox) == 1


def test_a_retried_job_that_ends_again_is_told_of_again(
    wants_email, mixture, django_capture_on_commit_callbacks
):
    job = make_job(wants_email, mixture)
    with django_capture_on_commit_callbacks(execute=True):
        job_fail(job, "First try.")
    work_due()
    with django_capture_on_commit_callbacks(execute=True):
        job_retry(job=job, actor=None, reason="once more")
    django_rq.get_queue(queues.LOCAL).empty()  # the retry's run: the test ends it instead
    with django_capture_on_commit_callbacks(execute=True):
        job_fail(SeparationJob.objects.get(pk=job.pk), "Second try.")
    work_due()
    assert [("First try." in m.body, "Second try." in m.body) for m in mail.outbox] == [
        (True, False),
        (False, True),
    ]
    assert sorted(EndedJobEmail.objects.values_list("attempt", flat=True)) == [0, 1]


def test_nothing_when_the_email_is_off(user, mixture):
    job = make_job(user, mixture)
    job_fail(job, "Gone.")
    assert not ended_email_enqueue(job_id=str(job.pk))
    assert not ended_email_send(job_id=str(job.pk), attempt=0)
    assert mail.outbox == [] and _queued_emails() == []


def test_nothing_for_a_canceled_job(wants_email, mixture):
    job = make_job(wants_email, mixture)
    job_cancel(job=job, actor=wants_email, reason="wrong file", by=wants_email.email)
    assert not ended_email_enqueue(job_id=str(job.pk))
    assert not ended_email_send(job_id=str(job.pk), attempt=0)
    assert mail.outbox == []


def test_nothing_once_its_starter_left_the_team(wants_email, mixture):
    job = make_job(wants_email, mixture)
    Membership.objects.filter(team=job.project.team, user=wants_email).delete()
    job_fail(job, "Gone.")
    assert not ended_email_enqueue(job_id=str(job.pk))
    assert not ended_email_send(job_id=str(job.pk), attempt=0)
    assert mail.outbox == []


def test_nothing_for_a_job_nobody_started(wants_email, mixture):
    job = make_job(wants_email, mixture)
    SeparationJob.objects.filter(pk=job.pk).update(created_by=None)
    job_fail(job, "Gone.")
    assert not ended_email_enqueue(job_id=str(job.pk))
    assert mail.outbox == []


def test_an_smtp_server_that_never_answers_fails_the_send_in_email_timeout(
    wants_email, mixture, settings
):
    assert settings.EMAIL_TIMEOUT == 10  # the site's default: sending never waits forever
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never says a word
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent.getsockname()[1]
    settings.EMAIL_TIMEOUT = 0.5
    job = make_job(wants_email, mixture)
    _succeed(job)
    started = time.monotonic()
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            ended_email_send(job_id=str(job.pk), attempt=0)
    finally:
        silent.close()
    assert time.monotonic() - started < 5
    assert not EndedJobEmail.objects.exists()  # tried again by hand or the next end, not lost
