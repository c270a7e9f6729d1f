"""The upload page: what it accepts, what it refuses, and that refusals leave nothing behind."""

from __future__ import annotations

import re
from pathlib import Path

import django_rq
import pytest
from django.db import DatabaseError
from django.urls import reverse

from accounts.models import Membership
from jobs.models import SeparationJob
from library.models import Project
from library.services import folder_create
from tests.fixtures import DEV01, flac_claiming, make_user, write_flac

BAD_UPLOADS = {
    "empty.wav": "The file is empty",
    "truncated.flac": "corrupt or truncated",
    "text_renamed.mp3": "not an audio file",
    "png_renamed.wav": "no audio stream",
    "one_sample.wav": "too short (0 ms); the minimum is 1.0 s",
    "half_second.wav": "too short (500 ms)",
    "huge_header.wav": "no audio samples",
    "silence_3s.flac": "completely silent",
}


def _post(client, path: Path, **fields):
    with open(path, "rb") as fh:
        data = {"file": fh, "provider": "local", "stem_set": "foreground_background", **fields}
        return client.post(reverse("upload"), data)


def test_the_form_offers_the_local_engine_and_its_stem_sets(logged_in):
    html = logged_in.get(reverse("upload")).content.decode()
    assert "Local engine" in html
    assert 'value="foreground_background"' in html and 'value="vocals_instrumental"' in html
    assert 'value="multi"' not in html  # no configured provider offers many instruments yet


@pytest.mark.parametrize(("name", "message"), BAD_UPLOADS.items())
def test_it_rejects_bad_files_and_keeps_nothing(logged_in, bad_dir, stored, name, message):
    response = _post(logged_in, bad_dir / name)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Project.objects.count() == 0 and SeparationJob.objects.count() == 0
    assert stored.names() == []
    assert django_rq.get_queue("local").count == 0


def test_it_rejects_a_file_over_the_size_limit(logged_in, mixture, settings, stored):
    settings.STEMWEB_MAX_UPLOAD_MB = 1  # mixture.flac is 1.6 MB
    response = _post(logged_in, mixture)
    assert "too large (2 MB); the limit is 1 MB" in response.content.decode()
    assert Project.objects.count() == 0 and stored.names() == []


def test_it_rejects_a_recording_over_the_duration_limit(logged_in, mixture, settings):
    settings.STEMWEB_MAX_DURATION_S = 10
    response = _post(logged_in, mixture)
    assert "too long (20.0 s); the maximum is 10.0 s" in response.content.decode()
    assert Project.objects.count() == 0


def test_a_decode_bomb_is_refused_from_its_header_and_leaves_nothing(
    logged_in, tmp_path, settings, stored
):
    # The bomb: a small FLAC announcing 2 hours of 8-channel 96 kHz audio. Its body is
    # one second of stereo, which no decoder can read under that header ("channel changed mid
    # stream"): the duration message shows the header was refused before any decoding.
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads := tmp_path / "upload-tmp")
    uploads.mkdir()
    bomb = flac_claiming(
        write_flac(tmp_path / "bomb.flac", 1), frames=2 * 3600 * 96000, channels=8, rate=96000
    )
    response = _post(logged_in, bomb)
    assert response.status_code == 200
    assert "too long (2 h 00 min); the maximum is 20 min 00 s" in response.content.decode()
    assert Project.objects.count() == 0 and SeparationJob.objects.count() == 0
    assert stored.names() == [] and list(uploads.iterdir()) == []
    assert django_rq.get_queue("local").count == 0


def test_a_bomb_hiding_its_length_is_refused_after_the_upload_check(
    logged_in, tmp_path, settings, stored
):
    # No length in the header and more audio than the 2 s the web decodes: libsndfile would
    # fail at the end of this file, so the message shows decoding stopped at the budget.
    settings.STEMWEB_UPLOAD_CHECK_S = 2
    path = flac_claiming(write_flac(tmp_path / "endless.flac", 20, rate=8000), frames=0)
    response = _post(logged_in, path)
    assert "does not say how long the recording is" in response.content.decode()
    assert Project.objects.count() == 0 and stored.names() == []


def test_a_long_upload_is_accepted_on_its_header_after_checking_its_start(
    logged_in, mixture, settings
):
    settings.STEMWEB_UPLOAD_CHECK_S = 5  # mixture.flac is 20 s
    response = _post(logged_in, mixture)
    assert response.status_code == 302
    assert Project.objects.get().duration_s == pytest.approx(20.0)


@pytest.mark.s3
@pytest.mark.django_db(transaction=True)
def test_a_good_upload_creates_the_project_and_enqueues_its_job_and_waveform(
    client, user, dev_dir, stored
):
    client.force_login(user)
    response = _post(client, dev_dir / DEV01 / "mixture.mp3", description="take 3")
    job = SeparationJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "job_detail", args=[job.pk]
    )
    project = job.project
    assert (project.name, project.original_filename, project.description) == (
        "mixture",
        "mixture.mp3",
        "take 3",
    )
    assert (project.container, project.sample_rate, project.channels) == ("MP3", 44100, 2)
    assert project.duration_s == pytest.approx(20.0)
    assert project.size_bytes == 401285 and len(project.sha256) == 64
    assert project.team == Membership.objects.get(user=user).team
    assert stored.basenames() == ["source.mp3"]
    assert job.status == SeparationJob.Status.QUEUED
    assert django_rq.get_queue("local").job_ids == [
        f"source-peaks-{project.pk}",  # first: the waveform takes seconds, the job minutes
        f"separate-{job.pk}-0",
    ]


def test_the_name_defaults_to_the_file_name_and_can_be_given(logged_in, mixture):
    _post(logged_in, mixture, name="Interview, part 1")
    assert Project.objects.get().name == "Interview, part 1"


def test_a_stem_set_the_provider_lacks_is_refused(logged_in, mixture):
    response = _post(logged_in, mixture, stem_set="multi")
    assert "Select a valid choice" in response.content.decode()
    assert Project.objects.count() == 0


def test_a_viewer_cannot_upload(logged_in, user):
    Membership.objects.filter(user=user).update(role=Membership.Role.VIEWER)
    assert logged_in.get(reverse("upload")).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client, db):
    response = client.get(reverse("upload"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


@pytest.mark.s3
@pytest.mark.django_db(transaction=True)
def test_a_failure_after_storing_keeps_neither_file_nor_row(
    client, user, mixture, stored, monkeypatch
):
    def broken_create(**kwargs):
        raise DatabaseError("could not extend file: No space left on device")

    monkeypatch.setattr(
        "jobs.services.intake.job_create", broken_create
    )  # the job row cannot be written
    client.force_login(user)
    with pytest.raises(DatabaseError):
        _post(client, mixture)
    assert Project.objects.count() == 0 and SeparationJob.objects.count() == 0
    assert stored.names() == []


def test_a_clear_checkbox_without_a_file_is_a_form_error_not_a_crash(logged_in, stored):
    response = logged_in.post(
        reverse("upload"),
        {"file-clear": "on", "provider": "local", "stem_set": "foreground_background"},
    )
    assert response.status_code == 200
    assert "Choose a recording to send to Local engine." in response.content.decode()
    assert Project.objects.count() == 0 and stored.names() == []


# --- Folders and batches -------------------------------------------------------------------

BATCH = {"HTTP_X_STEMWEB_UPLOAD": "batch"}


def _team(user):
    return Membership.objects.get(user=user).team


def test_opened_from_a_folder_the_upload_files_the_project_there(logged_in, user, mixture):
    album = folder_create(team=_team(user), parent=None, name="Album")
    mixes = folder_create(team=_team(user), parent=album, name="Mixes")
    page = logged_in.get(reverse("upload") + f"?folder={mixes.public_id}").content.decode()
    assert f'<option value="{mixes.public_id}" selected>Album / Mixes</option>' in page
    assert f'<option value="{album.public_id}">Album</option>' in page
    listing = logged_in.get(reverse("folder_detail", args=[mixes.public_id])).content.decode()
    assert f'href="{reverse("upload")}?folder={mixes.public_id}">Upload into Mixes<' in listing
    _post(logged_in, mixture, folder=str(mixes.public_id))
    assert Project.objects.get().folder == mixes


def test_another_teams_folder_is_not_a_choice(logged_in, mixture):
    stranger = make_user("stranger@example.com")
    theirs = folder_create(team=_team(stranger), parent=None, name="Theirs")
    page = logged_in.get(reverse("upload") + f"?folder={theirs.public_id}").content.decode()
    assert "Theirs" not in page
    response = _post(logged_in, mixture, folder=str(theirs.public_id))
    assert "Select a valid choice" in response.content.decode()
    assert Project.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_batch_post_answers_with_its_rows_fragment(logged_in, mixture, bad_dir, stored):
    with open(mixture, "rb") as fh:
        queued = logged_in.post(
            reverse("upload"),
            {"file": fh, "provider": "local", "stem_set": "vocals_instrumental"},
            **BATCH,
        )
    job = SeparationJob.objects.get()
    assert queued.status_code == 201
    body = queued.content.decode()
    assert 'data-upload-result="queued"' in body and "<html" not in body
    assert f'href="{reverse("job_detail", args=[job.pk])}">“mixture”</a> is queued' in body
    assert "(Local engine, Vocals / instrumental)" in body
    with open(bad_dir / "text_renamed.mp3", "rb") as fh:
        refused = logged_in.post(
            reverse("upload"),
            {"file": fh, "provider": "local", "stem_set": "foreground_background"},
            **BATCH,
        )
    assert refused.status_code == 422
    assert 'data-upload-result="refused"' in refused.content.decode()
    assert BAD_UPLOADS["text_renamed.mp3"] in refused.content.decode()
    assert Project.objects.count() == 1 and stored.basenames() == ["source.flac"]


def test_a_rate_limited_batch_post_says_so_in_its_row(logged_in, mixture, settings):
    settings.STEMWEB_UPLOAD_RATE_USER = "1/60"
    _post(logged_in, mixture)
    with open(mixture, "rb") as fh:
        limited = logged_in.post(
            reverse("upload"),
            {"file": fh, "provider": "local", "stem_set": "foreground_background"},
            **BATCH,
        )
    assert limited.status_code == 429
    assert 'data-upload-result="refused"' in limited.content.decode()
    assert "Too many uploads" in limited.content.decode()
    assert Project.objects.count() == 1


def test_each_provider_names_its_stem_sets_for_the_page_script(logged_in, settings):
    settings.STEMWEB_PROVIDERS = {
        "local": {"enabled": True},
        "finevoice": {"enabled": True, "api_key": "k", "base_url": "http://127.0.0.1:9"},
    }
    page = logged_in.get(reverse("upload")).content.decode()
    local = r'value="local" checked\s+data-stem-sets="foreground_background vocals_instrumental"'
    assert re.search(local, page)
    assert 'data-stem-sets="vocals_instrumental multi dry_reverb"' in page
    assert '<label class="choice" data-stem-set="multi">' in page
