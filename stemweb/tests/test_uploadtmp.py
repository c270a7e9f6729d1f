"""Upload temp files left by a killed web worker are swept; live ones and others stay."""

from __future__ import annotations

import os
import time

from django.conf import settings

from stemweb.lib.uploadtmp import sweep

HOUR = 3600


def _file(path, age_s: float):
    path.write_bytes(b"part of an upload")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_an_old_upload_temp_file_is_removed_and_a_fresh_one_kept(tmp_path):
    old = _file(tmp_path / "tmpa1b2c3d4.upload.flac", 2 * HOUR)
    fresh = _file(tmp_path / "tmpe5f6g7h8.upload.wav", 60)
    assert sweep(tmp_path, older_than_s=HOUR) == [old]
    assert not old.exists() and fresh.exists()


def test_only_upload_temp_files_are_touched(tmp_path):
    others = [
        _file(tmp_path / "notes.txt", 2 * HOUR),
        _file(tmp_path / "tmpzzz.other", 2 * HOUR),
    ]
    (tmp_path / "tmpdir.upload").mkdir()
    target = _file(tmp_path / "kept.flac", 2 * HOUR)
    (tmp_path / "tmplink.upload.flac").symlink_to(target)
    assert sweep(tmp_path, older_than_s=HOUR) == []
    assert all(p.exists() for p in others) and target.exists()


def test_the_upload_temp_dir_exists_before_the_first_upload():
    assert os.path.isdir(settings.FILE_UPLOAD_TEMP_DIR)  # Django does not create it
