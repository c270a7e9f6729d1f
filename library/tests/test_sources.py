"""A project's source is checked in two steps: bounded on the web, whole on the worker."""

from __future__ import annotations

import re

import pytest

from audio.probe import AudioError
from library.sources import check_upload, check_whole, needs_whole_check
from tests.fixtures import write_flac


def test_the_upload_check_decodes_at_most_the_configured_seconds(mixture, settings):
    settings.STEMWEB_UPLOAD_CHECK_S = 5
    info = check_upload(mixture)
    assert info.checked_frames == 5 * 44100 + 1 and info.frames == 882000
    assert needs_whole_check(info.duration_s)


def test_a_source_within_the_upload_check_is_decoded_whole_there(mixture, settings):
    info = check_upload(mixture)  # 20 s, within the default 30 s
    assert info.complete and info.checked_frames == info.frames
    assert not needs_whole_check(info.duration_s)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("STEMWEB_MAX_CHANNELS", 1, "has 2 channels; the most stemweb takes is 1"),
        ("STEMWEB_MAX_SAMPLE_RATE", 32000, "the highest stemweb takes is 32 kHz"),
        ("STEMWEB_MAX_DURATION_S", 10, "too long (20.0 s); the maximum is 10.0 s"),
    ],
)
def test_the_limits_are_the_sites_settings(mixture, settings, setting, value, message):
    setattr(settings, setting, value)
    with pytest.raises(AudioError, match=re.escape(message)):
        check_upload(mixture)


def test_silence_past_the_upload_check_is_found_by_the_whole_check(tmp_path, settings):
    settings.STEMWEB_UPLOAD_CHECK_S = 2
    path = write_flac(tmp_path / "silent.flac", 5, rate=8000, level=0.0)
    assert not check_upload(path).complete  # accepted on the web: its start proves nothing
    with pytest.raises(AudioError, match="completely silent"):
        check_whole(path)
