"""The separation task, called directly: claims, stems, failures, cancellation, recovery."""

from __future__ import annotations

import importlib
import shutil
from collections import Counter
from pathlib import Path

import django_rq
import numpy as np
import pytest
import soundfile as sf
from rq.job import Job as RQJob

from accounts.models import Membership
from audio.engine.modelfiles import SPLEETER_ONNX_SHA256
from jobs.models import JobEvent, SeparationJob
from jobs.services import job_create, job_enqueue
from jobs.tasks import run_job
from library.models import Project
from library.services import project_create
from library.sources import check_upload
from providers.local.client import LocalProvider
from stemweb.worker import StemwebWorker
from tests.fixtures import make_job
from tests.storage import read_stored_audio

Status = SeparationJob.Status
pytestmark = pytest.mark.django_db


@pytest.mark.s3
def test_it_separates_into_stems_that_sum_to_the_mixture(user, mixture, stored):
    job = make_job(user, mixture)
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.progress == 1.0 and job.error == ""
    assert job.started <= job.finished and job.provider_task_id == f"local-{job.pk}"
    stems = {stem.name: stem for stem in job.stems.all()}
    assert set(stems) == {"foreground", "background"}
    original, rate = sf.read(mixture, dtype="float64")
    decoded = {}
    for name, stem in stems.items():
        assert (stem.format, stem.sample_rate, stem.channels) == ("flac", 44100, 2)
        assert stem.duration_s == pytest.approx(20.0)
        decoded[name], stem_rate = read_stored_audio(stem.file, dtype="float64")
        assert stem_rate == rate and decoded[name].shape == original.shape
    np.testing.assert_allclose(decoded["foreground"] + decoded["background"], original, atol=1e-4)
    assert set(stored.basenames()) == {
        "source.flac",
        "foreground.flac",
        "background.flac",
        "foreground.peaks.json",
        "background.peaks.json",
    }
    assert job.residual_db < -100  # the stems add back up to the mixture
    for stem in stems.values():
        assert -40 < stem.lufs < -10 and stem.peak_dbfs < 0 and not stem.is_silent
    assert job.provenance["version"] and len(job.provenance["models"]) == 3
    assert {m["sha256"] for m in job.provenance["models"]} >= {SPLEETER_ONNX_SHA256}


def test_a_local_job_records_the_engine_time_for_staff(user, mixture):
    job = make_job(user, mixture)
    run_job(str(job.pk))
    job.refresh_from_db()
    note = job.events.get()
    assert note.kind == JobEvent.Kind.NOTE and note.method == "" and note.url == ""
    assert 0 < note.duration_ms <= (job.finished - job.started).total_seconds() * 1000
    assert note.excerpt.startswith("Local engine: 20.0 s of audio separated in ")
    assert "models loaded in" in note.excerpt


def test_collecting_decodes_each_stem_and_the_source_once(user, mixture, monkeypatch):
    collecting = importlib.import_module("jobs.services.collect")  # not collect(), re-exported
    decoded: Counter[str] = Counter()  # frames libsndfile decoded, per file, while collecting
    real_read, real_store = sf.SoundFile.read, collecting.store_stems

    def counted_read(sound, *args, **kwargs):
        audio = real_read(sound, *args, **kwargs)
        decoded[Path(sound.name).name] += len(audio)
        return audio

    def store_counting(*args, **kwargs):
        with monkeypatch.context() as patch:
            patch.setattr(sf.SoundFile, "read", counted_read)
            real_store(*args, **kwargs)

    monkeypatch.setattr(collecting, "store_stems", store_counting)
    job = make_job(user, mixture)
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert decoded == {
        "foreground.flac": 882_000,
        "background.flac": 882_000,
        "source.flac": 882_000,
    }
    assert job.residual_db < -100  # measured against the source all the same


def test_a_stem_that_is_not_audio_fails_the_job_with_its_reason(
    user, mixture, bad_dir, stored, monkeypatch
):
    real_result = LocalProvider.result

    def cut_background(self, ctx):
        result = real_result(self, ctx)
        shutil.copy(bad_dir / "truncated.flac", result.stems["background"])
        return result

    monkeypatch.setattr(LocalProvider, "result", cut_background)
    job = make_job(user, mixture)
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.FAILED and job.stems.count() == 0
    assert job.error == (
        "The background stem is not valid audio: The file is corrupt or truncated: "
        "decoding failed (Error : flac decoder lost sync.)."
    )
    assert set(stored.basenames()) == {"source.flac"}


def test_vocals_instrumental_names_the_stems_so(user, mixture):
    job = make_job(user, mixture, stem_set="vocals_instrumental")
    run_job(str(job.pk))
    assert sorted(job.stems.values_list("name", flat=True)) == ["instrumental", "vocals"]


def test_a_duplicate_delivery_does_nothing(user, mixture):
    job = make_job(user, mixture)
    run_job(str(job.pk))
    finished = SeparationJob.objects.get(pk=job.pk).finished
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.finished == finished and job.stems.count() == 2


def test_a_crash_fails_the_job_with_a_reason(user, mixture):
    job = make_job(user, mixture)
    with open(job.project.source.path, "wb") as fh:  # the stored source got corrupted
        fh.write(b"fLaC" + b"\x00" * 100)
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error.startswith("Separation crashed:")
    assert job.finished is not None and job.stems.count() == 0


def test_a_long_source_cut_short_fails_its_job_before_anything_is_separated(
    user, mixture, settings, tmp_path
):
    settings.STEMWEB_UPLOAD_CHECK_S = 5  # the web decodes 5 s of the 20 s mixture
    cut = tmp_path / "cut.flac"
    cut.write_bytes(mixture.read_bytes()[: mixture.stat().st_size * 6 // 10])
    project = project_create(
        team=Membership.objects.get(user=user).team,
        user=user,
        upload_path=cut,
        original_filename=cut.name,
        info=check_upload(cut),  # accepted on the web: its first 5 s decode fine
        name="Cut",
    )
    job = job_create(
        project=project, user=user, provider_key="local", stem_set="foreground_background"
    )
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error.startswith("The recording cannot be separated: The file is")
    assert "truncated" in job.error
    assert job.provider_task_id == "" and job.stems.count() == 0  # never submitted


def test_the_whole_check_stores_the_length_it_decoded(user, mixture, settings):
    settings.STEMWEB_UPLOAD_CHECK_S = 5
    job = make_job(user, mixture)
    Project.objects.filter(pk=job.project_id).update(duration_s=19.0)  # a header's estimate
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.project.duration_s == pytest.approx(20.0)
    assert [stem.duration_s for stem in job.stems.all()] == pytest.approx([20.0, 20.0])


def test_a_job_canceled_while_running_keeps_no_stems(user, mixture, stored, monkeypatch):
    job = make_job(user, mixture)

    def cancel_then_report(self, fraction):
        SeparationJob.objects.filter(pk=self.pk).update(status=Status.CANCELED)
        return SeparationJob.objects.filter(pk=self.pk, status=Status.RUNNING).exists()

    monkeypatch.setattr(SeparationJob, "report_progress", cancel_then_report)
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == Status.CANCELED and job.stems.count() == 0
    assert stored.basenames() == ["source.flac"]


def test_progress_is_stored_while_running(user, mixture, monkeypatch, tmp_path):
    # 50 s: more than two of the engine's 21.6 s windows, so progress comes in several steps.
    audio, rate = sf.read(mixture, dtype="float32")
    longer = tmp_path / "fifty_seconds.flac"
    sf.write(longer, np.concatenate([audio, audio, audio[: rate * 10]]), rate)
    job = make_job(user, longer)
    stored: list[tuple[str, float]] = []
    original = SeparationJob.report_progress

    def spy(self, fraction):
        result = original(self, fraction)
        row = SeparationJob.objects.get(pk=self.pk)
        stored.append((row.status, row.progress))
        return result

    monkeypatch.setattr(SeparationJob, "report_progress", spy)
    run_job(str(job.pk))
    assert {status for status, _ in stored} == {Status.RUNNING}
    progress = [fraction for _, fraction in stored]
    assert progress == sorted(progress) and progress[-1] == 1.0 and progress[0] < 1.0


def test_a_dead_work_horse_fails_the_job(user, mixture):
    job = make_job(user, mixture)
    job_enqueue(job=job)  # a plain `db` test never commits, so on_commit did not run
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    queue = django_rq.get_queue("local")
    rq_job = RQJob.fetch(f"separate-{job.pk}-0", connection=queue.connection)
    worker = StemwebWorker([queue], connection=queue.connection)
    worker.handle_work_horse_killed(rq_job, retpid=1, ret_val=9, rusage=None)  # SIGKILL
    job.refresh_from_db()
    assert job.status == Status.FAILED and "signal 9" in job.error
