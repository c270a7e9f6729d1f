"""Provider faults, served by the sandboxes over real HTTP: every job ends as a user expects."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from jobs import services
from jobs.models import JobEvent, SeparationJob
from jobs.services import job_create, jobs_reconcile
from jobs.tasks import run_job
from library.models import Project
from providers.base import ProviderError
from providers.stemsets import StemSet
from tests.fixtures import DEV01, make_project, make_user
from tests.workers import drain

pytestmark = pytest.mark.django_db(transaction=True)
Status = SeparationJob.Status
FG_BG = StemSet.FOREGROUND_BACKGROUND


@pytest.fixture
def owner(db):
    return make_user("ada@example.com")


def _camb(owner, mixture):
    return job_create(
        project=make_project(owner, mixture), user=owner, provider_key="camb", stem_set=FG_BG
    )


@pytest.mark.parametrize(
    ("fault", "evidence"),
    [
        ("rate_limit", {"status_code": 429}),
        ("server_error", {"status_code": 500}),
        ("slow", {"error": "timed out"}),
        ("malformed", {"status_code": 200, "excerpt": '{"status": "SUCC'}),
    ],
)
def test_transient_faults_are_retried_then_succeed(providers, owner, mixture, fault, evidence):
    providers.set_fault("camb", fault, times=2)
    job = drain(_camb(owner, mixture))
    assert job.status == Status.SUCCEEDED, job.error
    assert job.stems.count() == 2
    assert job.events.filter(**evidence).count() == 2  # both faults were met, logged, retried


def test_transient_faults_past_the_retry_limit_fail_with_the_reason(
    providers, owner, mixture, settings
):
    settings.STEMWEB_RETRY_LIMIT = 2
    providers.set_fault("camb", "server_error", times=5)
    job = drain(_camb(owner, mixture))
    assert job.status == Status.FAILED
    assert job.error == "CAMB.AI had a server error (500). Gave up after 2 retries."


def test_a_rate_limit_waits_as_long_as_retry_after_says(providers, owner, mixture, monkeypatch):
    delays: list[float] = []
    real = services.run._schedule_check
    monkeypatch.setattr(
        services.run, "_schedule_check", lambda job, d: (delays.append(d), real(job, d))
    )
    providers.set_fault("camb", "rate_limit")
    job = _camb(owner, mixture)
    run_job(str(job.pk))
    assert delays and delays[0] >= 1.0  # Retry-After: 1, over a 0.1 s backoff base
    assert drain(job).status == Status.SUCCEEDED


def test_a_provider_error_fails_the_job_with_its_reason(providers, owner, mixture):
    providers.set_fault("camb", "task_error")
    job = drain(_camb(owner, mixture))
    assert job.status == Status.FAILED
    assert (
        job.error
        == "CAMB.AI could not separate this file: the separation model failed on this input"
    )


def test_a_bad_key_says_so(providers, owner, mixture, settings):
    settings.STEMWEB_PROVIDERS["camb"]["api_key"] = "not-the-key"
    job = drain(_camb(owner, mixture))
    assert job.status == Status.FAILED
    assert "refused the API key (401)" in job.error and job.events.count() == 1


def test_a_job_past_its_deadline_is_timed_out_not_failed(providers, owner, mixture, settings):
    settings.STEMWEB_PROVIDERS["camb"]["deadline_s"] = 0.3
    settings.STEMWEB_PROVIDERS["camb"]["poll_s"] = 0.6  # the first check comes after it
    job = drain(_camb(owner, mixture))
    assert job.status == Status.TIMED_OUT
    assert job.error == "CAMB.AI did not finish within 0 minutes."


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("result_404", "Could not download FineVoice's result: the result file answered HTTP 404."),
        ("result_private", "refusing 169.254.169.254: it resolves to a non-public address"),
        ("task_error", "FineVoice could not separate this file: the separation model failed"),
    ],
)
def test_finevoice_result_faults_fail_with_a_reason_and_store_nothing(
    providers, owner, mixture, fault, reason, stored
):
    providers.set_fault("finevoice", fault)
    project = make_project(owner, mixture)
    job = drain(
        job_create(
            project=project,
            user=owner,
            provider_key="finevoice",
            stem_set=StemSet.VOCALS_INSTRUMENTAL,
        )
    )
    assert job.status == Status.FAILED and reason in job.error
    assert job.stems.count() == 0
    assert stored.basenames() == ["source.flac"]


def _suno(owner, stem_set=StemSet.VOCALS_INSTRUMENTAL):
    team = Membership.objects.get(user=owner).team
    project = Project.objects.create(
        team=team,
        name="track",
        created_by=owner,
        platform_task_id=DEV01,
        platform_audio_id="audio-1",
    )
    return job_create(project=project, user=owner, provider_key="suno", stem_set=stem_set)


def test_duplicate_callbacks_store_the_stems_once(providers, owner):
    providers.set_fault("suno", "duplicate_callback")
    job = drain(_suno(owner))
    assert job.status == Status.SUCCEEDED and job.stems.count() == 2
    for _ in range(100):  # the second delivery follows the first
        if job.events.filter(kind=JobEvent.Kind.CALLBACK).count() == 2:
            break
        time.sleep(0.05)
    sent = [c for c in providers.callbacks_sent if c["task_id"] == job.provider_task_id]
    assert [c["outcome"] for c in sent] == [200, 200]  # both answered 200
    assert job.events.filter(kind=JobEvent.Kind.CALLBACK).count() == 2
    drain(job)  # anything the second delivery queued has run
    after = SeparationJob.objects.get(pk=job.pk)
    assert (after.finished, after.stems.count()) == (job.finished, 2)


def test_a_callback_that_never_comes_is_covered_by_the_fallback_poll(providers, owner):
    providers.set_fault("suno", "no_callback")
    job = drain(_suno(owner))
    assert job.status == Status.SUCCEEDED, job.error
    assert job.callback_payload is None and job.stems.count() == 2
    assert job.events.filter(url__contains="record-info", status_code=200).exists()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("callback_fails", "Suno-style failed: Source audio could not be downloaded"),
        (
            "task_error",
            "Suno-style failed: Separation failed: the separation model failed on this input",
        ),
    ],
)
def test_a_failure_callback_fails_the_job_with_its_message(providers, owner, fault, reason):
    providers.set_fault("suno", fault)
    job = drain(_suno(owner))
    assert job.status == Status.FAILED and job.error == reason


def test_a_job_whose_check_redis_lost_polls_its_task_instead_of_submitting_again(
    providers, owner, mixture
):
    job = _camb(owner, mixture)
    run_job(str(job.pk))  # submits and schedules its first check; then Redis restarts empty
    from django_rq import get_queue

    get_queue("default").connection.flushdb()
    assert jobs_reconcile().rescheduled == 0  # the check is not due yet: nothing is lost
    SeparationJob.objects.filter(pk=job.pk).update(
        next_check_at=timezone.now() - timedelta(minutes=2)
    )
    assert jobs_reconcile().rescheduled == 1
    job = drain(job)
    assert job.status == Status.SUCCEEDED
    assert job.events.filter(method="POST").count() == 1  # one submission, one payment


def _transient_streak(job, count: int) -> None:
    """``count`` transient errors in a row, as the run service meets them."""
    for _ in range(count):
        job.refresh_from_db()
        services.run._provider_error(job, ProviderError("CAMB.AI is down.", permanent=False))


def test_a_provider_down_for_minutes_is_waited_out_not_failed(providers, owner, mixture, settings):
    # 2, 4, 8, 16, 32, 64 s: the old five-retry limit failed jobs after about 64 s of outage.
    settings.STEMWEB_RETRY_BASE_S, settings.STEMWEB_RETRY_MAX_DELAY_S = 2, 120
    settings.STEMWEB_RETRY_WINDOW_S, settings.STEMWEB_RETRY_LIMIT = 900, 0
    job = _camb(owner, mixture)
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    _transient_streak(job, 8)  # 2+4+8+16+32+64+120 = 246 s waited so far
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.transient_errors == 8
    assert services.run.retry_delay_s(8) == 120  # capped


def test_past_the_retry_window_the_job_fails_saying_how_long_it_waited(
    providers, owner, mixture, settings
):
    settings.STEMWEB_RETRY_BASE_S, settings.STEMWEB_RETRY_MAX_DELAY_S = 60, 60
    settings.STEMWEB_RETRY_WINDOW_S, settings.STEMWEB_RETRY_LIMIT = 300, 0
    job = _camb(owner, mixture)
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    _transient_streak(job, 6)  # the sixth error comes after 5 retries x 60 s = 300 s
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error == "CAMB.AI is down. Gave up after 5 retries over 5 minutes."
