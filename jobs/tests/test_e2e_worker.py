"""End to end: upload through the web form, a real `rqworker --burst` on real Redis, stems out."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from audio.probe import probe, read_blocks
from jobs.models import SeparationJob
from tests.fixtures import DEV01
from tests.storage import read_stored_audio
from tests.workers import run_worker_burst

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.mark.parametrize(
    ("suffix", "stored"),
    [("flac", "local"), ("mp3", "local"), ("m4a", "local"), ("flac", "s3")],
    indirect=["stored"],
)
def test_an_upload_becomes_stems_that_sum_to_the_mixture(client, user, dev_dir, stored, suffix):
    source = dev_dir / DEV01 / f"mixture.{suffix}"
    client.force_login(user)
    with open(source, "rb") as fh:
        response = client.post(
            reverse("upload"),
            {"file": fh, "provider": "local", "stem_set": "foreground_background"},
        )
    assert response.status_code == 302
    job = SeparationJob.objects.get()
    assert job.status == SeparationJob.Status.QUEUED

    worker = run_worker_burst(stored)
    assert worker.returncode == 0, worker.stderr[-2000:]

    job.refresh_from_db()
    assert job.status == SeparationJob.Status.SUCCEEDED, job.error
    info = probe(source)
    mixture = np.concatenate(list(read_blocks(source, info)))
    stems = {}
    for stem in job.stems.all():
        assert stem.file.name in stored.names()
        stems[stem.name], rate = read_stored_audio(stem.file, dtype="float32", always_2d=True)
        assert rate == info.sample_rate and stems[stem.name].shape == (info.frames, info.channels)
    assert set(stems) == {"foreground", "background"}
    np.testing.assert_allclose(stems["foreground"] + stems["background"], mixture, atol=1e-4)

    page = client.get(reverse("job_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert "Succeeded" in page.content.decode() and "hx-trigger" not in page.content.decode()
