"""Each provider over real HTTP against its sandbox: a dev recording in, stored stems out."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import soundfile as sf

from accounts.models import Membership
from audio.probe import probe
from jobs import signing
from jobs.models import JobEvent, SeparationJob
from jobs.services import job_create
from library.models import Project
from providers.stemsets import StemSet
from tests.fixtures import DEV01, make_project, make_user
from tests.storage import read_stored_audio
from tests.workers import SANDBOX_KEY, drain

pytestmark = pytest.mark.django_db(transaction=True)
Status = SeparationJob.Status


@pytest.fixture
def owner(db):
    return make_user("ada@example.com")


def _run(owner, source, provider, stem_set):
    project = make_project(owner, source, name="Dev one")
    return drain(job_create(project=project, user=owner, provider_key=provider, stem_set=stem_set))


def _stems(job):
    return {
        s.name: read_stored_audio(s.file, dtype="float64", always_2d=True)[0]
        for s in job.stems.all()
    }


@pytest.mark.s3
def test_camb_separates_a_dev_recording(providers, owner, mixture):
    job = _run(owner, mixture, "camb", StemSet.FOREGROUND_BACKGROUND)
    assert job.status == Status.SUCCEEDED, job.error
    stems = _stems(job)
    assert set(stems) == {"foreground", "background"}
    original, _ = sf.read(mixture, dtype="float64", always_2d=True)
    np.testing.assert_allclose(stems["foreground"] + stems["background"], original, atol=1e-4)
    assert job.provider_task_id and job.provider_state["run_id"] >= 1000
    urls = list(job.events.values_list("method", "url", "status_code"))
    assert ("POST", f"{providers.url}/camb/apis/audio-separation", 200) in urls
    assert any(
        u.endswith(f"/audio-separation-result/{job.provider_state['run_id']}") for _, u, _ in urls
    )
    assert not JobEvent.objects.filter(excerpt__contains=SANDBOX_KEY).exists()


def test_camb_refuses_ogg_at_job_creation(providers, owner, tmp_path):
    ogg = tmp_path / "take.ogg"
    sf.write(ogg, np.random.default_rng(0).normal(0, 0.1, (44100 * 2, 2)), 44100, format="OGG")
    project = make_project(owner, ogg)
    with pytest.raises(
        ValueError,
        match=re.escape("CAMB.AI accepts AAC, FLAC, M4A, MP3, WAV; this recording is OGG"),
    ):
        job_create(
            project=project, user=owner, provider_key="camb", stem_set="foreground_background"
        )


@pytest.mark.parametrize(
    ("stem_set", "names"),
    [
        (StemSet.VOCALS_INSTRUMENTAL, {"vocals", "instrumental"}),
        (StemSet.MULTI, {"vocals", "drums", "bass", "guitar", "piano", "other"}),
        (StemSet.DRY_REVERB, {"dry", "reverb"}),
    ],
)
def test_finevoice_fetches_the_signed_source_and_returns_every_stem(
    providers, owner, mixture, stem_set, names
):
    job = _run(owner, mixture, "finevoice", stem_set)
    assert job.status == Status.SUCCEEDED, job.error
    stems = _stems(job)
    assert set(stems) == names
    original, _ = sf.read(mixture, dtype="float64", always_2d=True)
    assert all(s.shape == original.shape for s in stems.values())
    np.testing.assert_allclose(sum(stems.values()), original, atol=1e-3)
    posted = job.events.get(method="POST")
    assert (
        posted.url == f"{providers.url}/finevoice/v1/audio/separation" and posted.status_code == 200
    )


@pytest.mark.parametrize("stored", ["s3"], indirect=True)
def test_finevoice_fetches_the_source_from_s3_by_a_presigned_link(
    providers, owner, mixture, stored, monkeypatch, settings
):
    """With S3 storage FineVoice's ``sourceUrl`` is the bucket's presigned link: the sandbox
    downloads the source from the S3 server, not through stemweb."""
    given: list[str] = []
    presign = signing.source_url

    def recorded(*args, **kwargs):
        given.append(presign(*args, **kwargs))
        return given[-1]

    monkeypatch.setattr(signing, "source_url", recorded)
    job = _run(owner, mixture, "finevoice", StemSet.VOCALS_INSTRUMENTAL)
    assert job.status == Status.SUCCEEDED, job.error
    assert len(given) == 1
    url = urlsplit(given[0])
    assert f"{url.scheme}://{url.netloc}" == stored.endpoint
    assert url.path == f"/{stored.bucket}/{job.project.source.name}"
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == [str(settings.STEMWEB_SIGNED_URL_TTL_S)]
    assert "X-Amz-Signature" in query
    assert set(_stems(job)) == {"vocals", "instrumental"}
    assert all(name.startswith("projects/") for name in stored.names())


def test_the_signed_source_link_needs_its_signature(providers, owner, mixture, live_server):
    project = make_project(owner, mixture)
    url = signing.source_url(project)
    assert url.startswith(live_server.url)
    assert httpx.get(url).content == project.source.open("rb").read()
    assert httpx.get(url[:-3] + "xx/").status_code == 404


def _platform_project(owner, case: str) -> Project:
    team = Membership.objects.get(user=owner).team
    return Project.objects.create(
        team=team, name=case, created_by=owner, platform_task_id=case, platform_audio_id="audio-1"
    )


@pytest.mark.parametrize(
    ("stem_set", "count"), [(StemSet.VOCALS_INSTRUMENTAL, 2), (StemSet.MULTI_12, 12)]
)
def test_suno_delivers_by_callback_and_stores_the_original_track(
    providers, owner, dev_dir, stem_set, count
):
    project = _platform_project(owner, DEV01)
    job = drain(job_create(project=project, user=owner, provider_key="suno", stem_set=stem_set))
    assert job.status == Status.SUCCEEDED, job.error
    assert job.callback_payload["code"] == 200  # the callback, not the fallback poll, delivered it
    assert job.events.filter(kind=JobEvent.Kind.CALLBACK).count() == 1
    stems = _stems(job)
    assert len(stems) == count and set(job.stem_names) == set(stems)
    project.refresh_from_db()
    assert project.container == "FLAC" and project.duration_s == pytest.approx(20.0)
    original, _ = sf.read(project.source.path, dtype="float64", always_2d=True)
    np.testing.assert_allclose(sum(stems.values()), original, atol=1e-3)


def test_camb_sdk_drives_the_camb_sandbox(sandbox, mixture, tmp_path):
    from camb.client import CambAI

    client = CambAI(api_key=SANDBOX_KEY, base_url=f"{sandbox.url}/camb/apis")
    with open(mixture, "rb") as fh:
        created = client.audio_separation.create_audio_separation(media_file=fh, project_name="sdk")
    for _ in range(200):
        status = client.audio_separation.get_audio_separation_status(task_id=created.task_id)
        if status.status != "PENDING":
            break
        time.sleep(0.1)
    assert status.status == "SUCCESS" and status.run_id is not None
    result = client.audio_separation.get_audio_separation_run_info(status.run_id)
    for name, url in (("fg", result.foreground_audio_url), ("bg", result.background_audio_url)):
        path = tmp_path / f"{name}.flac"
        path.write_bytes(httpx.get(url).content)
        info = probe(path)
        assert (info.sample_rate, info.channels, info.frames) == (44100, 2, 882000)
