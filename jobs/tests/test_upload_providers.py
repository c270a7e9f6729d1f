"""The upload page with every provider configured: choices, platform tracks, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from django.urls import reverse

from jobs.models import SeparationJob
from library.models import Project
from tests.fixtures import DEV01
from tests.workers import drain, work_due

pytestmark = pytest.mark.django_db(transaction=True)


def test_only_configured_providers_are_offered_with_what_they_take(
    client, user, providers, settings
):
    settings.STEMWEB_PROVIDERS["finevoice"]["enabled"] = False
    client.force_login(user)
    html = client.get(reverse("upload")).content.decode()
    assert 'value="local"' in html and 'value="camb"' in html and 'value="suno"' in html
    assert 'value="finevoice"' not in html
    assert "AAC/M4A, FLAC, MP3 or WAV uploads" in html and "give its taskId and audioId" in html
    assert "Many instruments (12 stems)" in html  # offered by Suno-style


def test_a_platform_track_needs_no_file_and_runs_on_suno(client, user, providers, stored):
    client.force_login(user)
    response = client.post(
        reverse("upload"),
        {
            "provider": "suno",
            "stem_set": "vocals_instrumental",
            "platform_task_id": DEV01,
            "platform_audio_id": "audio-1",
        },
    )
    job = SeparationJob.objects.get()
    assert response.status_code == 302 and job.project.name == f"Track {DEV01}"
    assert not job.project.source and stored.names() == []
    job = drain(job)
    assert job.status == SeparationJob.Status.SUCCEEDED, job.error
    assert Project.objects.get().source  # the original track came back with the stems
    work_due()  # its waveform, queued once it was stored
    assert Project.objects.get().source_peaks.name.endswith("/source.peaks.json")


def test_suno_without_a_track_says_what_is_missing(client, user, providers):
    client.force_login(user)
    html = client.post(
        reverse("upload"), {"provider": "suno", "stem_set": "vocals_instrumental"}
    ).content.decode()
    assert "needs the track&#x27;s taskId and audioId" in html
    assert Project.objects.count() == 0


def test_an_upload_provider_without_a_file_says_so(client, user, providers):
    client.force_login(user)
    html = client.post(
        reverse("upload"), {"provider": "camb", "stem_set": "foreground_background"}
    ).content.decode()
    assert "Choose a recording to send to CAMB.AI." in html


def test_a_format_the_provider_refuses_is_refused_before_storing(
    client, user, providers, tmp_path, stored
):
    ogg = tmp_path / "take.ogg"
    sf.write(ogg, np.random.default_rng(0).normal(0, 0.1, (44100 * 2, 2)), 44100, format="OGG")
    client.force_login(user)
    with open(ogg, "rb") as fh:
        html = client.post(
            reverse("upload"), {"file": fh, "provider": "camb", "stem_set": "foreground_background"}
        ).content.decode()
    assert "CAMB.AI accepts AAC, FLAC, M4A, MP3, WAV; this recording is OGG." in html
    assert Project.objects.count() == 0 and stored.names() == []


def test_a_stem_set_the_chosen_provider_lacks_is_refused(client, user, providers, mixture):
    client.force_login(user)
    with open(mixture, "rb") as fh:
        html = client.post(
            reverse("upload"), {"file": fh, "provider": "camb", "stem_set": "multi"}
        ).content.decode()
    assert "CAMB.AI does not offer Many instruments (6 stems)." in html
    assert Project.objects.count() == 0
