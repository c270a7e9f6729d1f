"""The project page: its source, facts and jobs; separate again (the upload's checks and
words); rename, move, delete; A/B of two finished jobs; who may do what."""

from __future__ import annotations

import re

import django_rq
import pytest
from django.urls import reverse

from accounts.models import Membership
from jobs.models import SeparationJob
from jobs.services import job_create
from library.models import Folder, Project
from library.services import folder_create
from library.tasks import source_peaks
from providers.stemsets import StemSet
from tests.fixtures import make_finished_job, make_project, make_user

pytestmark = pytest.mark.django_db
Role = Membership.Role
Status = SeparationJob.Status
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def team(user):
    return Membership.objects.get(user=user).team


@pytest.fixture
def finished(user, mixture, tmp_path):
    """A project with a FineVoice job that succeeded."""
    return make_finished_job(user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "a")


@pytest.fixture
def remote_providers(settings):
    """CAMB.AI and Suno-style configured beside the local engine (no request leaves: nothing
    runs the jobs)."""
    settings.STEMWEB_PROVIDERS = {
        **settings.STEMWEB_PROVIDERS,
        "camb": {"enabled": True, "api_key": "k"},
        "suno": {"enabled": True, "api_key": "k"},
    }


def _page(client, project, **headers):
    return client.get(reverse("project_detail", args=[project.public_id]), **headers)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_it_shows_the_folder_the_source_and_every_job_with_status_and_provider(
    logged_in, user, team, finished
):
    project = finished.project
    top = folder_create(team=team, parent=None, name="Top")
    inner = folder_create(team=team, parent=top, name="Inner")
    Project.objects.filter(pk=project.pk).update(folder=inner, description="Take three")
    queued = job_create(
        project=project, user=user, provider_key="local", stem_set=StemSet.FOREGROUND_BACKGROUND
    )

    html = _page(logged_in, project).content.decode()

    crumbs = re.search(r'<nav class="crumbs".*?</nav>', html, re.DOTALL).group(0)
    assert re.findall(r">([^<>]+)</a>", crumbs) == ["ada&#x27;s team", "Top", "Inner"]
    assert '<strong aria-current="page">Song</strong>' in crumbs
    assert "<h1>Song</h1>" in html and "Take three" in html
    for fact in ("mixture.flac", "FLAC", "0:20", "44100 Hz", "1.5 MB", project.sha256):
        assert fact in html, fact
    assert f'src="{reverse("project_source", args=[project.public_id])}"' in html
    rows = re.findall(r'<tr data-job="([^"]+)" data-status="([^"]+)">(.*?)</tr>', html, re.DOTALL)
    assert [(job, status) for job, status, _ in rows] == [
        (str(queued.pk), "queued"),
        (str(finished.pk), "succeeded"),
    ]
    assert "Local engine" in rows[0][2] and "Foreground / background" in rows[0][2]
    assert "FineVoice" in rows[1][2] and "Vocals / instrumental" in rows[1][2]
    assert 'hx-trigger="every 2s, stemweb:visible from:document"' in html  # a job is unfinished


@pytest.mark.django_db(transaction=True)
def test_the_page_asks_a_worker_for_a_missing_waveform_then_draws_it(logged_in, user, mixture):
    project = make_project(user, mixture)
    queue = django_rq.get_queue("local")
    html = _page(logged_in, project).content.decode()
    assert 'data-peaks=""' in html and "A worker is drawing the waveform" in html
    _page(logged_in, project)  # asked again while it waits: still one task
    assert queue.job_ids == [f"source-peaks-{project.pk}"]

    source_peaks(project.pk)
    html = _page(logged_in, project).content.decode()
    assert f'data-peaks="{reverse("project_source_peaks", args=[project.public_id])}"' in html
    assert "A worker is drawing" not in html
    assert queue.job_ids == [f"source-peaks-{project.pk}"]  # nothing more was asked


def test_the_job_pages_mixture_track_draws_the_source_waveform(logged_in, finished):
    source_peaks(finished.project.pk)
    html = logged_in.get(reverse("job_detail", args=[finished.pk])).content.decode()
    peaks = reverse("project_source_peaks", args=[finished.project.public_id])
    assert f'data-stem="mixture" data-muted="true" data-peaks="{peaks}"' in html


def test_the_jobs_fragment_polls_with_304s_and_stops_when_every_job_ended(
    logged_in, user, finished
):
    project = finished.project
    queued = job_create(
        project=project, user=user, provider_key="local", stem_set=StemSet.VOCALS_INSTRUMENTAL
    )
    url = reverse("project_detail", args=[project.public_id]) + "?part=jobs"
    first = logged_in.get(url, **HTMX)
    body = first.content.decode()
    assert body.startswith('\n<section id="project-jobs"') and "<html" not in body
    assert "hx-trigger" in body and "compare-jobs" not in body  # the A/B form: not while polling
    assert "no-cache" in first["Cache-Control"]
    again = logged_in.get(url, HTTP_IF_NONE_MATCH=first["ETag"], **HTMX)
    assert again.status_code == 304

    SeparationJob.objects.filter(pk=queued.pk).update(status=Status.SUCCEEDED)
    last = logged_in.get(url, HTTP_IF_NONE_MATCH=first["ETag"], **HTMX)
    body = last.content.decode()
    assert last.status_code == 200 and "hx-trigger" not in body  # polling stops here
    assert 'data-status="succeeded"' in body and 'data-status="queued"' not in body
    assert '<div id="compare-jobs" hx-swap-oob="true">' in body  # now two jobs to compare
    assert body.count(f'<option value="{queued.pk}"') == 2


def test_separate_again_queues_a_job_and_shows_it(logged_in, user, finished):
    project = finished.project
    response = logged_in.post(
        reverse("project_separate", args=[project.public_id]),
        {"provider": "local", "stem_set": StemSet.VOCALS_INSTRUMENTAL},
        follow=True,
    )
    job = project.jobs.get(provider="local")
    assert (job.stem_set, job.status, job.created_by) == ("vocals_instrumental", "queued", user)
    assert response.redirect_chain == [(reverse("project_detail", args=[project.public_id]), 302)]
    assert _messages(response) == ["Queued: Vocals / instrumental with Local engine."]
    assert f'<tr data-job="{job.pk}" data-status="queued">' in response.content.decode()


def test_separate_again_offers_only_providers_that_take_this_source(
    logged_in, user, finished, remote_providers
):
    html = _page(logged_in, finished.project).content.decode()
    offered = re.findall(r'<option value="(\w+)" data-offers="([^"]*)"', html)
    assert offered == [
        ("local", "foreground_background vocals_instrumental "),
        ("camb", "foreground_background "),
    ]  # Suno-style separates tracks on its platform, not uploads
    platform = Project.objects.create(
        team=finished.project.team, name="Track", platform_task_id="t", platform_audio_id="a"
    )
    html = _page(logged_in, platform).content.decode()
    assert [key for key, _ in re.findall(r'<option value="(\w+)" data-offers="([^"]*)"', html)] == [
        "suno"
    ]


def test_an_invalid_combination_is_refused_in_the_uploads_words(
    logged_in, finished, mixture, remote_providers
):
    with open(mixture, "rb") as fh:
        upload = logged_in.post(
            reverse("upload"),
            {"file": fh, "provider": "camb", "stem_set": StemSet.VOCALS_INSTRUMENTAL},
        )
    refusal = "CAMB.AI does not offer Vocals / instrumental."
    assert refusal in upload.content.decode()
    response = logged_in.post(
        reverse("project_separate", args=[finished.project.public_id]),
        {"provider": "camb", "stem_set": StemSet.VOCALS_INSTRUMENTAL},
        follow=True,
    )
    assert _messages(response) == [f"Nothing was queued. {refusal}"]
    suno = logged_in.post(
        reverse("project_separate", args=[finished.project.public_id]),
        {"provider": "suno", "stem_set": StemSet.VOCALS_INSTRUMENTAL},
        follow=True,
    )
    assert _messages(suno) == [
        "Nothing was queued. Suno-style works on tracks already on its platform."
    ]
    assert list(SeparationJob.objects.values_list("provider", flat=True)) == ["finevoice"]


def test_separate_again_past_the_quota_is_refused_as_an_upload_is(logged_in, team, finished):
    team.quota_stem_seconds = 10
    team.save()
    response = logged_in.post(
        reverse("project_separate", args=[finished.project.public_id]),
        {"provider": "local", "stem_set": StemSet.FOREGROUND_BACKGROUND},
        follow=True,
    )
    (message,) = _messages(response)
    assert message.startswith("Nothing was queued. This job needs 40 stem-seconds, but only")
    assert SeparationJob.objects.count() == 1


def test_rename_and_move_come_back_to_the_page(logged_in, team, finished):
    project = finished.project
    target = folder_create(team=team, parent=None, name="Keepers")
    url = reverse("project_rename", args=[project.public_id])
    response = logged_in.post(url, {"name": " Final cut ", "description": "v2"}, follow=True)
    project.refresh_from_db()
    assert (project.name, project.description) == ("Final cut", "v2")
    assert "<h1>Final cut</h1>" in response.content.decode()
    refused = logged_in.post(url, {"name": "  ", "description": "gone"}, follow=True)
    assert _messages(refused) == ["A project needs a name."]
    assert Project.objects.get(pk=project.pk).description == "v2"

    response = logged_in.post(
        reverse("project_move", args=[project.public_id]),
        {"folder": target.public_id},
        follow=True,
    )
    assert Project.objects.get(pk=project.pk).folder == target
    assert response.redirect_chain[-1][0] == reverse("project_detail", args=[project.public_id])
    assert _messages(response) == ["Moved to “Keepers”."]
    assert f'<a href="{reverse("folder_detail", args=[target.public_id])}">Keepers</a>' in (
        response.content.decode()
    )


@pytest.mark.s3
@pytest.mark.django_db(transaction=True)
def test_delete_asks_first_then_removes_every_file_and_shows_the_folder(
    logged_in, team, finished, stored
):
    project = finished.project
    folder = folder_create(team=team, parent=None, name="Drafts")
    Project.objects.filter(pk=project.pk).update(folder=folder)
    source_peaks(project.pk)
    assert "source.peaks.json" in stored.basenames()
    url = reverse("project_delete", args=[project.public_id])
    page = logged_in.get(url).content.decode()
    assert "its 1 job and 3 files from storage" in page  # the source and two stems
    logged_in.post(url)  # without the confirmation: nothing goes
    assert Project.objects.filter(pk=project.pk).exists()
    response = logged_in.post(url, {"confirm": "yes"})
    assert response["Location"] == reverse("folder_detail", args=[folder.public_id])
    assert not Project.objects.exists() and not SeparationJob.objects.exists()
    assert stored.names() == []
    assert Folder.objects.filter(pk=folder.pk).exists()


def test_ab_opens_the_mixer_of_one_job_comparing_the_other(
    logged_in, user, finished, mixture, tmp_path
):
    project = finished.project
    vocals = StemSet.VOCALS_INSTRUMENTAL
    other = make_finished_job(user, mixture, vocals, tmp_path / "b", project=project)
    html = _page(logged_in, project).content.decode()
    assert f'action="{reverse("project_compare", args=[project.public_id])}"' in html
    url = reverse("project_compare", args=[project.public_id])
    response = logged_in.get(url, {"a": other.pk, "b": finished.pk})
    assert response["Location"] == f"{reverse('job_detail', args=[other.pk])}?compare={finished.pk}"
    mixer = logged_in.get(response["Location"]).content.decode()
    assert f'<option value="{finished.pk}" selected>' in mixer

    same = logged_in.get(url, {"a": other.pk, "b": other.pk}, follow=True)
    assert _messages(same) == ["Choose two different finished jobs to compare."]
    elsewhere = make_finished_job(user, mixture, vocals, tmp_path / "c", name="Elsewhere")
    foreign = logged_in.get(url, {"a": other.pk, "b": elsewhere.pk}, follow=True)
    assert _messages(foreign) == ["Choose two different finished jobs to compare."]
    assert logged_in.get(url, {"a": other.pk, "b": "nope"}).status_code == 404


def test_a_viewer_sees_the_page_but_cannot_change_anything(client, user, team, finished):
    viewer = make_user("viewer@example.com")
    Membership.objects.create(team=team, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    client.post(reverse("team_switch", args=[team.public_id]))
    project = finished.project
    html = _page(client, project).content.decode()
    assert "<h1>Song</h1>" in html and 'data-status="succeeded"' in html
    assert "Separate again" not in html and "Project settings" not in html
    for name, data in (
        ("project_separate", {"provider": "local", "stem_set": "vocals_instrumental"}),
        ("project_rename", {"name": "Mine now"}),
        ("project_move", {"folder": ""}),
        ("project_delete", {"confirm": "yes"}),
    ):
        assert client.post(reverse(name, args=[project.public_id]), data).status_code == 403
    assert client.get(reverse("project_delete", args=[project.public_id])).status_code == 403
    assert Project.objects.get(pk=project.pk).name == "Song"
    assert SeparationJob.objects.count() == 1


def test_another_teams_project_is_404(logged_in, other_user, mixture):
    theirs = make_project(other_user, mixture, "Theirs")
    assert _page(logged_in, theirs).status_code == 404
    assert _page(logged_in, theirs, **HTMX).status_code == 404
    separate = reverse("project_separate", args=[theirs.public_id])
    assert logged_in.post(separate, {"provider": "local"}).status_code == 404
    assert not SeparationJob.objects.exists()
