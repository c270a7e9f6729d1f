"""Bodies over the upload limit are refused before anything is written, for anyone."""

from __future__ import annotations

import os
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import SeparationJob
from library.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def temp_dir(tmp_path, settings):
    """Uploads stream here; the test checks that nothing arrives."""
    where = tmp_path / "uploads"
    where.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(where)
    settings.STEMWEB_MAX_UPLOAD_MB = 1
    return where


def _big_post(client: Client):
    payload = BytesIO(os.urandom(3 * 1024 * 1024))  # 3 MB against a 1 MB limit
    payload.name = "big.wav"
    return client.post(
        reverse("upload"),
        {"file": payload, "provider": "local", "stem_set": "foreground_background"},
    )


def test_a_logged_in_upload_over_the_limit_is_413_and_nothing_is_written(
    logged_in, temp_dir, stored
):
    response = _big_post(logged_in)
    assert response.status_code == 413
    assert "the limit is 1 MB" in response.content.decode()
    assert list(temp_dir.iterdir()) == [] and stored.names() == []
    assert Project.objects.count() == 0 and SeparationJob.objects.count() == 0


def test_an_anonymous_post_with_a_made_up_csrf_cookie_is_cut_off_the_same_way(temp_dir):
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "x" * 32
    response = _big_post(client)
    assert response.status_code == 413 and list(temp_dir.iterdir()) == []


def test_a_body_within_the_limit_still_reaches_the_form(logged_in, temp_dir):
    small = BytesIO(b"not audio at all")
    small.name = "small.wav"
    response = logged_in.post(
        reverse("upload"), {"file": small, "provider": "local", "stem_set": "foreground_background"}
    )
    assert response.status_code == 200
    assert "not an audio file" in response.content.decode()


def test_an_anonymous_body_past_the_form_limit_is_refused_before_it_is_read(temp_dir, settings):
    settings.STEMWEB_MAX_UPLOAD_MB = 200  # far above: only the anonymous limit applies
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "x" * 32
    response = _big_post(client)
    assert response.status_code == 413
    assert "Sign in to upload" in response.content.decode()
    assert list(temp_dir.iterdir()) == []


def test_a_signed_in_body_of_the_same_size_reaches_the_form(logged_in, temp_dir, settings):
    settings.STEMWEB_MAX_UPLOAD_MB = 200
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    response = _big_post(logged_in)
    assert response.status_code == 200 and "not an audio file" in response.content.decode()
