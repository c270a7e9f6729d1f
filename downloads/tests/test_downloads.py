"""Downloads: every format decodes to the stem's length and rate (MP3 at 320 kbit/s), the link
waits for the worker, zips carry a manifest, custom mixes render, A/B data is offered."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import av
import numpy as np
import pytest
import soundfile as sf
from django.urls import reverse

from accounts.models import Membership
from audio.analysis import analyze_stem
from audio.engine.modelfiles import SPLEETER_ONNX_SHA256
from audio.probe import probe
from downloads.models import CustomMix, Rendition
from downloads.rendering import MAX_ATTEMPTS, renders_recover
from jobs import queues
from jobs.models import Stem
from jobs.tasks import run_job
from library.models import Project
from providers.stemsets import StemSet
from tests.fixtures import make_finished_job, make_job
from tests.storage import fetch_download, read_stored_audio
from tests.workers import work_due

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def job(user, mixture, tmp_path):
    return make_finished_job(
        user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "s", name="Demo"
    )


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.s3
@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_each_format_decodes_to_the_stems_length_and_rate(client, user, job, fmt, tmp_path):
    """Served by stemweb from local files; from S3, a redirect to a presigned link that names
    the file in its Content-Disposition."""
    client.force_login(user)
    stem = job.stems.get(name="vocals")
    url = reverse("stem_download", args=[stem.public_id, fmt])
    if fmt != "flac":  # stored as FLAC already: served at once
        first = client.get(url)
        assert first.status_code == 202 and "Preparing" in first.content.decode()
        assert 'hx-trigger="every 1s' in client.get(url, **HTMX).content.decode()
        work_due()
        ready = client.get(url, **HTMX).content.decode()
        assert "hx-trigger" not in ready and f'href="{url}"' in ready
    fetched = fetch_download(client, url)
    assert fetched.status == 200
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="demo-vocals.{fmt}"'
    assert fetched.headers["Content-Type"] == {"wav": "audio/wav", "flac": "audio/flac"}.get(
        fmt, "audio/mpeg"
    )
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(fetched.body)
    info = sf.info(str(path))
    assert info.samplerate == 44100 and info.channels == 2
    assert abs(info.frames - 882000) <= (1152 if fmt == "mp3" else 0)
    if fmt == "wav":
        assert info.subtype == "PCM_24"
    if fmt == "mp3":
        with av.open(str(path)) as container:
            assert container.streams.audio[0].bit_rate == 320000
    assert Rendition.objects.filter(stem=stem).count() == (0 if fmt == "flac" else 1)  # made once


@pytest.mark.s3
def test_a_zip_waits_for_its_conversions_then_streams_stems_and_manifest(client, user, job):
    client.force_login(user)
    url = reverse("job_zip", args=[job.pk, "wav"])
    assert client.get(url).status_code == 202
    work_due()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = _body(response)
    assert int(response["Content-Length"]) == len(body)
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == [
        "demo/instrumental.wav",
        "demo/manifest.json",
        "demo/vocals.wav",
    ]
    manifest = json.loads(archive.read("demo/manifest.json"))
    assert manifest["source"]["file_name"] == "mixture.flac" and manifest["format"] == "wav"
    assert manifest["job"]["id"] == str(job.pk) and manifest["job"]["residual_db"] < -60
    total = 0
    for entry in manifest["stems"]:
        audio, rate = sf.read(io.BytesIO(archive.read(f"demo/{entry['file_name']}")))
        assert rate == entry["sample_rate"] and len(audio) == 882000
        total = total + audio
    original, _ = read_stored_audio(job.project.source)
    np.testing.assert_allclose(total, original, atol=1e-4)


@pytest.mark.s3
def test_a_custom_karaoke_mix_renders_and_is_listed(client, user, job):
    client.force_login(user)
    response = client.post(
        reverse("mix_new", args=[job.pk]),
        {
            "name": "Karaoke",
            "format": "flac",
            "use_instrumental": "1",
            "gain_instrumental": "-6",
            "gain_vocals": "0",
        },
    )
    assert response.status_code == 302
    mix = CustomMix.objects.get()
    assert mix.gains_db == {"instrumental": -6.0} and mix.state == "pending"
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "rendering" in page and "?part=mixes" in page
    work_due()
    mix.refresh_from_db()
    assert mix.state == "ready"
    fragment = client.get(reverse("job_detail", args=[job.pk]) + "?part=mixes").content.decode()
    assert 'data-mix="Karaoke"' in fragment and "download>download</a>" in fragment
    assert "hx-trigger" not in fragment
    rendered, _ = sf.read(
        io.BytesIO(fetch_download(client, reverse("mix_download", args=[mix.public_id])).body)
    )
    instrumental, _ = read_stored_audio(job.stems.get(name="instrumental").file)
    np.testing.assert_allclose(rendered, instrumental * 10 ** (-6 / 20), atol=1e-4)


def test_a_viewer_cannot_render_a_mix(client, user, job):
    Membership.objects.filter(user=user).update(role=Membership.Role.VIEWER)
    client.force_login(user)
    response = client.post(reverse("mix_new", args=[job.pk]), {"use_vocals": "1", "format": "wav"})
    assert response.status_code == 403 and CustomMix.objects.count() == 0


@pytest.mark.s3
def test_stems_peaks_and_loudness_reach_the_page(client, user, job):
    client.force_login(user)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    vocals = job.stems.get(name="vocals")
    assert f"{vocals.lufs:.1f} LUFS" in page and "Reconstruction residual" in page
    peaks = client.get(reverse("stem_peaks", args=[vocals.public_id])).json()
    assert len(peaks["peaks"]) == 800 and 0 < max(peaks["peaks"]) <= 1


def test_a_stem_with_no_signal_is_marked_on_the_page(client, user, job):
    stem = job.stems.get(name="vocals")
    sf.write(stem.file.path, np.zeros((882000, 2)), 44100, subtype="PCM_24")
    measured = analyze_stem(stem.file.path, probe(stem.file.path))
    assert measured.is_silent and measured.lufs is None and measured.peak_dbfs is None
    Stem.objects.filter(pk=stem.pk).update(is_silent=True, lufs=None, peak_dbfs=None)
    client.force_login(user)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'class="track silent" data-stem="vocals"' in page
    assert '<span class="badge">no signal</span>' in page
    assert 'name="use_vocals" value="1"  data-mix-use' in page  # left out of mixes by default


def test_a_project_with_two_providers_offers_ab_compare(client, user, job, mixture, tmp_path):
    other = make_finished_job(
        user,
        mixture,
        StemSet.VOCALS_INSTRUMENTAL,
        tmp_path / "o",
        provider="suno",
        project=job.project,
    )
    client.force_login(user)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'data-action="compare"' in page and f'<option value="{other.pk}">Suno-style' in page
    solo = make_finished_job(
        user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "x", name="Alone"
    )
    assert (
        'data-action="compare"'
        not in client.get(reverse("job_detail", args=[solo.pk])).content.decode()
    )


def test_a_failed_conversion_is_shown_to_polls_and_retried_only_when_asked(client, user, job):
    client.force_login(user)
    stem = job.stems.get(name="vocals")
    url = reverse("stem_download", args=[stem.public_id, "mp3"])
    client.get(url)
    Rendition.objects.filter(stem=stem).update(state="failed", error="disk full")
    import django_rq

    django_rq.get_queue("local").empty()
    poll = client.get(url, **HTMX).content.decode()
    assert "failed: disk full" in poll and "hx-trigger" not in poll
    assert django_rq.get_queue("local").count == 0  # a poll does not retry
    client.get(url)  # a person follows the link again
    assert Rendition.objects.get(stem=stem).state == "pending"
    assert django_rq.get_queue("local").count == 1


@pytest.mark.s3
def test_deleting_a_project_removes_every_file_it_made(client, user, job, stored):
    client.force_login(user)
    stem = job.stems.get(name="vocals")
    client.get(reverse("stem_download", args=[stem.public_id, "mp3"]))
    client.post(
        reverse("mix_new", args=[job.pk]), {"use_vocals": "1", "format": "wav", "name": "Mix"}
    )
    client.get(reverse("project_detail", args=[job.project.public_id]))  # asks for its waveform
    work_due()
    names = set(stored.basenames())
    assert {"vocals.mp3", "Mix.wav", "vocals.peaks.json", "source.flac"} <= names
    assert "source.peaks.json" in names
    client.post(reverse("projects_bulk"), {"action": "delete", "projects": [job.project.public_id]})
    assert not Project.objects.exists()
    assert stored.names() == []


def test_a_local_jobs_zip_names_the_engine_and_its_models(client, user, mixture):
    local = make_job(user, mixture)
    run_job(str(local.pk))
    local.refresh_from_db()
    client.force_login(user)
    response = client.get(reverse("job_zip", args=[local.pk, "flac"]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    manifest_name = next(n for n in archive.namelist() if n.endswith("manifest.json"))
    provenance = json.loads(archive.read(manifest_name))["provenance"]
    assert provenance == local.provenance and provenance["engine"] == "stemweb-local"
    models = {m["name"]: m for m in provenance["models"]}
    assert models["Spleeter 2stems (ONNX, converted)"]["sha256"] == SPLEETER_ONNX_SHA256
    assert models["DeepFilterNet3 (ONNX archive)"]["licence"] == "MIT OR Apache-2.0"


def test_renders_redis_lost_are_handed_over_again_once_then_given_up(client, user, job):
    client.force_login(user)
    stem = job.stems.get(name="vocals")
    url = reverse("stem_download", args=[stem.public_id, "mp3"])
    client.get(url)
    mix = CustomMix.objects.create(
        job=job, name="Karaoke", gains_db={"instrumental": 0}, format="wav"
    )
    import django_rq
    from django.utils import timezone

    django_rq.get_connection("local").flushdb()  # Redis restarted empty
    assert renders_recover(held=set()) == {"renders requeued": 0, "renders failed": 0}
    rendition = Rendition.objects.get(stem=stem)  # both were asked for a moment ago
    assert rendition.attempts == 1
    long_ago = timezone.now() - timezone.timedelta(minutes=10)
    Rendition.objects.filter(pk=rendition.pk).update(queued_at=long_ago)
    CustomMix.objects.filter(pk=mix.pk).update(created=long_ago)
    assert renders_recover(held=set()) == {"renders requeued": 2, "renders failed": 0}
    held = {(queues.RENDER_STEM, str(rendition.pk)), (queues.RENDER_MIX, str(mix.pk))}
    Rendition.objects.filter(pk=rendition.pk).update(queued_at=long_ago)
    assert renders_recover(held=held)["renders requeued"] == 0  # RQ still holds them
    # Three tasks for the rendition are queued now; only the newest hand-over renders.
    work_due()
    rendition.refresh_from_db()
    mix.refresh_from_db()
    assert (rendition.state, rendition.attempts, mix.state) == ("ready", 2, "ready")
    assert Rendition.objects.filter(stem=stem).count() == 1
    assert len([f for f in job.stems.get(name="vocals").renditions.all() if f.file]) == 1
    Rendition.objects.filter(pk=rendition.pk).update(
        state="pending", attempts=MAX_ATTEMPTS, queued_at=long_ago
    )
    assert renders_recover(held=set())["renders failed"] == 1
    assert "lost it 3 times" in Rendition.objects.get(pk=rendition.pk).error


@pytest.mark.parametrize("stored", ["s3"], indirect=True)
def test_a_zip_from_s3_reads_each_stem_in_parts_never_whole(client, user, job, stored):
    """django-storages' ``S3File`` downloads a whole object before its first read; the zip
    streams each stem from its GET instead, so memory stays far below one stem's size."""
    client.force_login(user)
    largest = max(stem.size_bytes for stem in job.stems.all())
    assert largest > 2_000_000
    response = client.get(reverse("job_zip", args=[job.pk, "flac"]))
    assert response.status_code == 200
    tracemalloc.start()
    try:
        sent = sum(len(chunk) for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == int(response["Content-Length"]) > largest
    assert peak < largest / 2, f"{peak} bytes held while streaming stems of up to {largest}"
