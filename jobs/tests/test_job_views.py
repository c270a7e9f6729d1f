"""The job page and its htmx fragment, stem files with Range, and who may see them."""

from __future__ import annotations

import io

import pytest
import soundfile as sf
from django.urls import reverse

from accounts.models import Membership
from jobs.models import JobEvent, SeparationJob
from jobs.tasks import run_job
from library.models import Project
from providers.stemsets import StemSet
from tests.fixtures import make_finished_job, make_job

Status = SeparationJob.Status
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def done_job(user, mixture, tmp_path):
    """A finished two-stem job (stems split once a session, stored as a provider's are)."""
    return make_finished_job(
        user,
        mixture,
        StemSet.FOREGROUND_BACKGROUND,
        tmp_path / "stems",
        name="Demo Take #2",
        provider="local",
    )


@pytest.fixture
def engine_job(user, mixture):
    """A job the local engine really ran."""
    job = make_job(user, mixture, name="Demo Take #2")
    run_job(str(job.pk))
    return SeparationJob.objects.get(pk=job.pk)


def test_a_queued_job_page_polls_every_two_seconds(logged_in, user, mixture):
    job = make_job(user, mixture, name="Demo")
    html = logged_in.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "<h1>Demo</h1>" in html and "Foreground / background" in html
    assert "<dd>Local engine</dd>" in html and "ada&#x27;s team" in html  # header: current team
    assert 'data-status="queued"' in html and 'hx-trigger="every 2s' in html


def test_the_fragment_is_the_status_section_alone(logged_in, user, mixture):
    job = make_job(user, mixture)
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, progress=0.42)
    response = logged_in.get(reverse("job_detail", args=[job.pk]), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="job-status"')
    assert "HX-Request" in response["Vary"]
    assert "<h1>" not in html and "<html" not in html
    assert "Running" in html and "42 %" in html and 'hx-trigger="every 2s' in html


def test_a_finished_job_stops_polling_and_shows_players(logged_in, done_job):
    html = logged_in.get(reverse("job_detail", args=[done_job.pk]), **HTMX).content.decode()
    assert "hx-trigger" not in html and "Succeeded" in html
    for stem in done_job.stems.all():
        assert reverse("stem_file", args=[stem.public_id]) in html
    assert html.count("<audio") == 3  # the mixture and two stems
    assert reverse("project_source", args=[done_job.project.public_id]) in html


def test_a_failed_job_shows_its_reason(logged_in, user, mixture):
    job = make_job(user, mixture)
    job.mark_failed("The local engine ran out of patience.")
    html = logged_in.get(reverse("job_detail", args=[job.pk]), **HTMX).content.decode()
    assert "Failed" in html and "The local engine ran out of patience." in html
    assert "hx-trigger" not in html


def test_the_dashboard_lists_projects_newest_first_with_status(logged_in, user, mixture):
    first = make_job(user, mixture, name="First")
    make_job(user, mixture, name="Second")
    first.mark_failed("boom")
    html = logged_in.get(reverse("dashboard")).content.decode()
    assert html.index("Second") < html.index("First")
    assert "Queued" in html and "Failed" in html and "0:20" in html


def test_a_stem_downloads_with_a_safe_name_and_decodes(logged_in, done_job):
    stem = done_job.stems.get(name="foreground")
    response = logged_in.get(reverse("stem_file", args=[stem.public_id]) + "?download")
    assert response.status_code == 200 and response["Content-Type"] == "audio/flac"
    assert response["Content-Disposition"] == 'attachment; filename="demo-take-2-foreground.flac"'
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body) == stem.size_bytes
    audio, rate = sf.read(io.BytesIO(body))
    assert rate == 44100 and audio.shape == (882000, 2)


def test_the_player_source_is_inline(logged_in, done_job):
    stem = done_job.stems.get(name="background")
    response = logged_in.get(reverse("stem_file", args=[stem.public_id]))
    assert response["Content-Disposition"].startswith("inline;")
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-500", None, None),
        ("bytes=5000-", 5000, 5000 + 1024 * 1024 - 1),  # players get at most 1 MiB a time
    ],
)
def test_range_requests_get_206_with_exactly_those_bytes(logged_in, done_job, header, first, last):
    stem = done_job.stems.get(name="foreground")
    whole = stem.file.open("rb").read()
    size = len(whole)
    first = size - 500 if first is None else first
    last = size - 1 if last is None else last
    response = logged_in.get(reverse("stem_file", args=[stem.public_id]), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert b"".join(response.streaming_content) == whole[first : last + 1]


def test_an_unsatisfiable_range_gets_416(logged_in, done_job):
    stem = done_job.stems.get(name="foreground")
    response = logged_in.get(
        reverse("stem_file", args=[stem.public_id]), HTTP_RANGE="bytes=999999999-"
    )
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{stem.size_bytes}"


def test_another_user_gets_404_everywhere(client, other_user, done_job):
    client.force_login(other_user)
    stem = done_job.stems.first()
    urls = [
        reverse("job_detail", args=[done_job.pk]),
        reverse("stem_file", args=[stem.public_id]),
        reverse("stem_file", args=[stem.public_id]) + "?download",
        reverse("project_source", args=[done_job.project.public_id]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.get(url, **HTMX).status_code == 404, url
    assert "Demo Take" not in client.get(reverse("dashboard")).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, done_job):
    response = client.get(reverse("job_detail", args=[done_job.pk]))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_staff_see_provider_events_and_members_do_not(client, user, engine_job):
    done_job = engine_job
    JobEvent.objects.create(
        job=done_job,
        kind=JobEvent.Kind.REQUEST,
        method="GET",
        url="https://client.camb.ai/apis/audio-separation/t-9",
        status_code=200,
        excerpt='{"status": "PENDING"}',
        duration_ms=12,
    )
    client.force_login(user)
    url = reverse("job_detail", args=[done_job.pk])
    html = client.get(url).content.decode()
    assert "audio-separation/t-9" not in html and "Local engine: 20.0 s" not in html
    user.is_staff = True
    user.save()
    html = client.get(url).content.decode()
    assert "Provider events (2)" in html and "audio-separation/t-9" in html and "12 ms" in html
    # the local engine's own note (it ran this job): its time, for staff
    assert "Local engine: 20.0 s of audio separated in" in html


def test_a_platform_track_job_page_and_dashboard_render_before_the_track_is_known(logged_in, user):
    team = Membership.objects.get(user=user).team
    project = Project.objects.create(
        team=team, name="On the platform", platform_task_id="t-7", platform_audio_id="a-2"
    )
    job = SeparationJob.objects.create(
        project=project, provider="suno", stem_set="vocals_instrumental"
    )
    html = logged_in.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "platform track taskId <code>t-7</code>, audioId <code>a-2</code>" in html
    assert "Suno-style" in html
    assert "platform track" in logged_in.get(reverse("dashboard")).content.decode()
    assert logged_in.get(reverse("project_source", args=[project.public_id])).status_code == 404


def test_a_download_gets_the_whole_rest_of_an_open_range(logged_in, done_job):
    stem = done_job.stems.get(name="foreground")
    response = logged_in.get(
        reverse("stem_file", args=[stem.public_id]) + "?download", HTTP_RANGE="bytes=10-"
    )
    assert response["Content-Range"] == f"bytes 10-{stem.size_bytes - 1}/{stem.size_bytes}"


def test_a_member_cancels_a_queued_job_from_its_page(logged_in, user, mixture):
    job = make_job(user, mixture, name="Too long")
    page = logged_in.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="job-cancel"' in page and "Cancel this job" in page
    assert logged_in.get(reverse("job_cancel", args=[job.pk])).status_code == 405
    response = logged_in.post(reverse("job_cancel", args=[job.pk]), follow=True)
    assert response.redirect_chain == [(reverse("job_detail", args=[job.pk]), 302)]
    html = response.content.decode()
    assert "The job was canceled." in html and "Cancel this job" not in html
    job.refresh_from_db()
    assert job.status == Status.CANCELED and user.email in job.error
    again = logged_in.post(reverse("job_cancel", args=[job.pk]), follow=True).content.decode()
    assert "The job had already ended (canceled)." in again


def test_a_viewer_sees_no_cancel_button_and_may_not_cancel(client, user, mixture):
    job = make_job(user, mixture)
    Membership.objects.filter(user=user).update(role=Membership.Role.VIEWER)
    client.force_login(user)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Cancel this job" not in page
    assert client.post(reverse("job_cancel", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.status == Status.QUEUED


def test_the_final_status_fragment_removes_the_cancel_form(logged_in, done_job):
    fragment = logged_in.get(reverse("job_detail", args=[done_job.pk]), **HTMX).content.decode()
    assert '<div id="job-cancel" hx-swap-oob="delete"></div>' in fragment
