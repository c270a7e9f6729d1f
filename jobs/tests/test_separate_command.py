"""`manage.py separate`: the engine from the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf

from tests.fixtures import ROOT


def _separate(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "separate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_it_writes_foreground_and_background(mixture, tmp_path):
    result = _separate(mixture, "--out", tmp_path / "stems", "--stems", "two")
    assert result.returncode == 0, result.stderr
    assert "real time" in result.stdout
    original, rate = sf.read(mixture, dtype="float32")
    fg, fg_rate = sf.read(tmp_path / "stems" / "foreground.flac", dtype="float32")
    bg, _ = sf.read(tmp_path / "stems" / "background.flac", dtype="float32")
    assert fg_rate == rate and fg.shape == bg.shape == original.shape
    np.testing.assert_allclose(fg + bg, original, atol=1e-4)


def test_bad_input_exits_non_zero_with_one_line(bad_dir, tmp_path):
    result = _separate(bad_dir / "png_renamed.wav", "--out", tmp_path / "stems")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no audio stream" in lines[0]
    assert not (tmp_path / "stems").exists()


def test_a_missing_file_says_so(tmp_path):
    result = _separate(tmp_path / "nope.wav", "--out", tmp_path)
    assert result.returncode != 0 and "no such file" in result.stderr


def test_it_refuses_input_shorter_than_the_minimum(bad_dir, tmp_path):
    result = _separate(bad_dir / "one_sample.wav", "--out", tmp_path / "stems")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "too short" in lines[0] and "minimum is 1.0 s" in lines[0]
    assert not (tmp_path / "stems").exists()


def test_vocals_writes_vocals_and_instrumental(mixture, tmp_path):
    result = _separate(mixture, "--out", tmp_path, "--stems", "vocals")
    assert result.returncode == 0, result.stderr
    vocals, _ = sf.read(tmp_path / "vocals.flac", dtype="float32")
    instrumental, _ = sf.read(tmp_path / "instrumental.flac", dtype="float32")
    original, _ = sf.read(mixture, dtype="float32")
    np.testing.assert_allclose(vocals + instrumental, original, atol=1e-4)
    assert np.sum(vocals**2) < np.sum(original**2)
