"""The engine's model files: sha256 checks, the system check's message, a job's readable reason."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from audio.engine.modelfiles import SPLEETER_ONNX, problems, sha256_of, verified
from jobs.checks import local_engine_models
from jobs.models import SeparationJob
from jobs.tasks import run_job
from tests.fixtures import make_job


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A copy of the installed model directory that a test may damage."""
    copy = tmp_path / "models"
    copy.mkdir()
    shutil.copy(Path(settings.STEMWEB_MODEL_DIR) / SPLEETER_ONNX, copy / SPLEETER_ONNX)
    return copy


def test_installed_files_match_their_pinned_sha256():
    assert problems(Path(settings.STEMWEB_MODEL_DIR)) == []


def test_an_altered_model_file_is_named_by_the_system_check(model_copy, settings):
    with (model_copy / SPLEETER_ONNX).open("r+b") as fh:
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    settings.STEMWEB_MODEL_DIR = model_copy
    errors = local_engine_models()
    assert [e.id for e in errors] == ["stemweb.E001"]
    assert "Spleeter 2stems (ONNX, converted) is altered" in errors[0].msg
    assert "make models" in errors[0].hint
    with pytest.raises(SystemCheckError, match=r"Spleeter 2stems .* is altered"):
        call_command("check")


def test_a_missing_model_file_is_named_by_the_system_check(tmp_path, settings):
    settings.STEMWEB_MODEL_DIR = tmp_path / "empty"
    errors = local_engine_models()
    assert len(errors) == 1
    assert "is missing" in errors[0].msg and str(tmp_path / "empty") in errors[0].msg


def test_no_check_when_the_local_engine_is_off(tmp_path, settings):
    settings.STEMWEB_MODEL_DIR = tmp_path / "empty"
    settings.STEMWEB_PROVIDERS = {**settings.STEMWEB_PROVIDERS, "local": {"enabled": False}}
    assert local_engine_models() == []


def test_a_job_fails_with_a_readable_reason_instead_of_crashing(user, mixture, tmp_path, settings):
    settings.STEMWEB_MODEL_DIR = tmp_path / "empty"
    verified.cache_clear()
    job = make_job(user, mixture)
    run_job(str(job.pk))
    row = SeparationJob.objects.get(pk=job.pk)
    assert row.status == SeparationJob.Status.FAILED
    assert row.error.startswith("The local engine cannot start: Spleeter 2stems")
    assert "make models" in row.error


def test_sha256_of_reads_the_whole_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"stemweb" * 500_000)
    assert sha256_of(path) == hashlib.sha256(b"stemweb" * 500_000).hexdigest()
