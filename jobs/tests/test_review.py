"""Admin review: who may see and act, what each action does (database, storage, RQ), the hold."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from accounts.models import Membership, User
from jobs.models import AuditEntry, SeparationJob
from jobs.services import job_create
from jobs.tasks import run_job
from providers.stemsets import StemSet
from tests.fixtures import make_finished_job, make_job, make_project
from tests.workers import drain, work_due
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)
Status = SeparationJob.Status
CHANGELIST = "admin:jobs_separationjob_changelist"


def _staff(email="staff@example.com", *perms: str) -> User:
    person = User.objects.create_user(email=email, password="staff-pass-1234", is_staff=True)
    for codename in perms:
        person.user_permissions.add(Permission.objects.get(codename=codename))
    return person


def _act(client, action: str, job, **extra):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(job.pk)], "index": 0, **extra},
    )


@pytest.fixture
def finished(user, mixture, tmp_path):
    return make_finished_job(
        user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "s", name="Reviewed"
    )


def test_non_staff_get_no_admin_queue_health_or_review_page(client, user):
    client.force_login(user)
    for url in (reverse(CHANGELIST), reverse("queue_health"), reverse("review_queue")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_staff_without_the_permission_cannot_act(client, finished):
    client.force_login(_staff())
    assert client.get(reverse("review_queue")).status_code == 403
    assert (
        client.post(
            reverse("review_decide", args=[finished.pk]), {"decision": "approve"}
        ).status_code
        == 403
    )
    _act(client, "approve", finished)
    _act(client, "delete_stems", finished)
    finished.refresh_from_db()
    assert finished.review_state == "unreviewed" and finished.stems.count() == 2
    assert AuditEntry.objects.count() == 0


def test_approve_and_flag_are_recorded_and_the_flag_is_shown_to_the_team(client, user, finished):
    reviewer = _staff("rev@example.com", "review_separationjob", "view_separationjob")
    client.force_login(reviewer)
    _act(client, "flag", finished, reason="Vocals bleed into the drums")
    finished.refresh_from_db()
    assert finished.review_state == "flagged" and finished.reviewed_by == reviewer
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.reason) == (
        "flag",
        reviewer,
        "Vocals bleed into the drums",
    )
    client.force_login(user)
    assert (
        "Flagged by the site's staff: Vocals bleed into the drums"
        in client.get(reverse("job_detail", args=[finished.pk])).content.decode()
    )
    client.force_login(reviewer)
    _act(client, "approve", finished)
    assert SeparationJob.objects.get(pk=finished.pk).review_state == "approved"
    assert list(AuditEntry.objects.order_by("created").values_list("action", flat=True)) == [
        "flag",
        "approve",
    ]


def test_delete_stems_removes_their_files(client, finished, stored):
    client.force_login(_staff("op@example.com", "operate_separationjob", "view_separationjob"))
    assert "vocals.flac" in stored.basenames()
    _act(client, "delete_stems", finished, reason="licence")
    assert finished.stems.count() == 0
    assert stored.basenames() == ["source.flac"]
    assert AuditEntry.objects.get().details == {"stems": 2}


def test_rerun_makes_a_new_job_on_the_same_project(client, finished):
    client.force_login(_staff("op@example.com", "operate_separationjob", "view_separationjob"))
    _act(client, "rerun", finished, provider="local", stem_set="foreground_background")
    new = SeparationJob.objects.exclude(pk=finished.pk).get()
    assert (new.project_id, new.provider, new.stem_set, new.status) == (
        finished.project_id,
        "local",
        "foreground_background",
        "queued",
    )
    assert AuditEntry.objects.get().details["new_job"] == str(new.pk)


def test_cancel_leaves_no_scheduled_check_and_the_provider_is_not_called_again(
    client, providers, user, mixture
):
    job = job_create(
        project=make_project(user, mixture),
        user=user,
        provider_key="camb",
        stem_set="foreground_background",
    )
    django_rq.get_queue("local").empty()
    run_job(str(job.pk))  # submits, and sets its first check due (the checker's, not RQ's)
    job.refresh_from_db()
    assert job.next_check_at is not None
    registry = ScheduledJobRegistry(queue=django_rq.get_queue("default"))
    client.force_login(_staff("op@example.com", "operate_separationjob", "view_separationjob"))
    _act(client, "cancel", job, reason="customer asked")
    job.refresh_from_db()
    assert job.status == Status.CANCELED and "customer asked" in job.error
    assert registry.count == 0 and django_rq.get_queue("default").count == 0
    calls = job.events.count()
    # Its check would be due by now, had cancelling left one: no sleeping through the wait.
    SeparationJob.objects.filter(pk=job.pk).update(
        next_check_at=timezone.now() - timedelta(seconds=1)
    )
    work_due()
    assert job.events.count() == calls  # nobody polled the provider again


def test_retry_resumes_the_provider_task_without_submitting_again(
    client, providers, settings, user, mixture
):
    settings.STEMWEB_RETRY_LIMIT = 1
    job = job_create(
        project=make_project(user, mixture),
        user=user,
        provider_key="camb",
        stem_set="foreground_background",
    )
    run_job(str(job.pk))  # the submission goes through
    providers.set_fault("camb", "server_error", times=3)  # then every poll fails
    job = drain(job)
    assert job.status == Status.FAILED and job.provider_task_id
    providers.clear_faults()
    client.force_login(_staff("op@example.com", "operate_separationjob", "view_separationjob"))
    _act(client, "retry", job, reason="provider recovered")
    job = drain(job)
    assert job.status == Status.SUCCEEDED, job.error
    assert job.events.filter(method="POST").count() == 1  # one submission, one payment
    assert AuditEntry.objects.get().details == {"resumes_task": True}


def test_retry_of_a_local_job_that_had_a_task_id_separates_again(client, user, mixture):
    job = make_job(user, mixture)
    run_job(str(job.pk))
    # It failed after the engine ran (say, while storing the stems): the task id stays, the
    # engine's work directory is gone.
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.FAILED, error="disk full")
    job.stems.all().delete()
    client.force_login(_staff("op@example.com", "operate_separationjob", "view_separationjob"))
    _act(client, "retry", job, reason="disk freed")
    job = drain(job)
    assert job.status == Status.SUCCEEDED, job.error
    assert job.stems.count() == 2 and job.provider_task_id == f"local-{job.pk}"
    assert AuditEntry.objects.get().details == {"resumes_task": False}


def test_a_held_job_releases_downloads_and_webhook_only_on_approval(
    client, user, mixture, tmp_path, settings
):
    team = Membership.objects.get(user=user).team
    team.requires_review = True
    team.webhook_url = "http://127.0.0.1:9/hook"  # not contacted while held
    team.webhook_secret = "whsec_" + "A" * 44
    team.save()
    settings.STEMWEB_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    job = make_finished_job(user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "s")
    stem = job.stems.get(name="vocals")
    client.force_login(user)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Awaiting review" in page and 'class="mixer"' not in page
    for url in (
        reverse("stem_file", args=[stem.public_id]),
        reverse("stem_download", args=[stem.public_id, "wav"]),
        reverse("job_zip", args=[job.pk, "flac"]),
    ):
        assert client.get(url).status_code == 403, url
    assert WebhookDelivery.objects.count() == 0
    reviewer = _staff("rev@example.com", "review_separationjob")
    client.force_login(reviewer)
    queue = client.get(reverse("review_queue")).content.decode()
    assert f'id="review-{job.pk}"' in queue
    row = client.post(
        reverse("review_decide", args=[job.pk]), {"decision": "approve"}, HTTP_HX_REQUEST="true"
    )
    assert "Approved" in row.content.decode() and "<html" not in row.content.decode()
    assert WebhookDelivery.objects.filter(job=job).count() == 1  # the webhook goes out now
    client.force_login(user)
    assert client.get(reverse("stem_file", args=[stem.public_id])).status_code == 200
    assert 'class="mixer"' in client.get(reverse("job_detail", args=[job.pk])).content.decode()
    # Flagged, then approved again: held meanwhile, but the team was told once.
    client.force_login(reviewer)
    for decision in ({"decision": "flag", "note": "a click at 0:12"}, {"decision": "approve"}):
        client.post(reverse("review_decide", args=[job.pk]), decision, HTTP_HX_REQUEST="true")
    job.refresh_from_db()
    assert job.review_state == "approved" and job.audit.count() == 3
    assert WebhookDelivery.objects.filter(job=job).count() == 1


def test_flagging_from_the_queue_needs_a_note(client, user, mixture, tmp_path):
    team = Membership.objects.get(user=user).team
    team.requires_review = True
    team.save()
    job = make_finished_job(user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "s")
    client.force_login(_staff("rev@example.com", "review_separationjob"))
    row = client.post(
        reverse("review_decide", args=[job.pk]), {"decision": "flag", "note": ""}
    ).content.decode()
    assert "Say why the job is flagged" in row
    assert SeparationJob.objects.get(pk=job.pk).review_state == "unreviewed"


def test_the_admin_job_page_and_queue_health_show_what_staff_need(admin_client, finished):
    page = admin_client.get(
        reverse("admin:jobs_separationjob_change", args=[finished.pk])
    ).content.decode()
    assert "Reconstruction residual" in page and page.count("<audio") == 2 and "Audit log" in page
    assert "callback_token" not in page
    listing = admin_client.get(reverse(CHANGELIST) + "?q=Reviewed").content.decode()
    assert "Reviewed" in listing and "0:20" in listing
    health = admin_client.get(reverse("queue_health")).content.decode()
    assert 'data-queue="default"' in health and 'data-queue="local"' in health
    assert '<td>Succeeded</td><td class="count">1</td>' in health


def test_django_rq_pages_need_the_permission_to_operate_jobs(client):
    home = reverse("django_rq:home")
    assert client.get(home).status_code == 302  # anonymous: on to the admin login
    client.force_login(_staff("looker@example.com", "view_separationjob"))
    assert client.get(home).status_code == 403
    client.force_login(_staff("op@example.com", "operate_separationjob", "view_separationjob"))
    response = client.get(home)
    assert response.status_code == 200 and "default" in response.content.decode()
