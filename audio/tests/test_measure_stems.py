"""Collecting's one pass over a job's stems and its mixture: each decode-checked as ``probe``
does, measured as one would on the whole arrays, and their residual, in bounded memory."""

from __future__ import annotations

import math
import shutil
import tracemalloc
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from audio import analysis
from audio.analysis import BUCKETS, UnreadableStem, measure_stems
from audio.probe import probe

DEV01 = "dev01_speech_en_female__rock"


def test_it_measures_each_stem_and_the_residual_as_whole_arrays_do(dev_dir, tmp_path):
    case = dev_dir / DEV01
    background, rate = sf.read(case / "background.flac", dtype="float32")
    sf.write(tmp_path / "half.wav", background * 0.5, rate, subtype="FLOAT")  # half of it missing
    stems = {"foreground": case / "foreground.flac", "background": tmp_path / "half.wav"}

    measured = measure_stems(stems, case / "mixture.flac")

    arrays = {name: sf.read(path, dtype="float64")[0] for name, path in stems.items()}
    for name, path in stems.items():
        audio = arrays[name]
        stem = measured.stems[name]
        assert stem.info == probe(path)
        assert stem.analysis is not None and not stem.analysis.is_silent
        loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
        assert stem.analysis.lufs == pytest.approx(loudness, abs=0.005 + 1e-9)
        peak = np.abs(audio).max()
        assert stem.analysis.peak_dbfs == pytest.approx(20 * math.log10(peak), abs=0.005 + 1e-9)
        envelope = np.abs(audio).max(axis=1)
        edges = np.linspace(0, len(audio), BUCKETS + 1).astype(np.int64)
        expected = [envelope[a:b].max() for a, b in pairwise(edges)]
        assert stem.analysis.peaks == pytest.approx(expected, abs=0.00005 + 1e-9)
    mixture = sf.read(case / "mixture.flac", dtype="float64")[0]
    rest = mixture - arrays["foreground"] - arrays["background"]
    residual = 10 * math.log10(np.sum(rest**2) / np.sum(mixture**2))
    assert measured.residual_db == pytest.approx(residual, abs=0.005 + 1e-9)
    assert -8 < measured.residual_db < -4  # half the background is left over
    assert measured.mixture == probe(case / "mixture.flac") and measured.mixture_error is None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("truncated.flac", "The file is corrupt or truncated: decoding failed"),
        ("png_renamed.wav", "The file has no audio stream (it may be an image or a video)."),
        ("empty.wav", "The file is empty (0 bytes)."),
    ],
)
def test_a_stem_that_is_not_audio_is_named_with_probes_reason(dev_dir, bad_dir, bad, reason):
    case = dev_dir / DEV01
    stems = {"foreground": case / "foreground.flac", "background": bad_dir / bad}
    with pytest.raises(UnreadableStem) as raised:
        measure_stems(stems, case / "mixture.flac")
    assert raised.value.name == "background" and str(raised.value).startswith(reason)


def test_no_residual_against_another_rate_or_a_silent_or_broken_mixture(dev_dir, bad_dir, tmp_path):
    case = dev_dir / DEV01
    foreground, rate = sf.read(case / "foreground.flac", dtype="float32")
    sf.write(tmp_path / "fast.wav", foreground, 48000)
    sf.write(tmp_path / "silent.wav", np.zeros_like(foreground), rate)
    stems = {"foreground": case / "foreground.flac"}
    assert (
        measure_stems({"foreground": tmp_path / "fast.wav"}, case / "mixture.flac").residual_db
        is None
    )
    assert measure_stems(stems, tmp_path / "silent.wav").residual_db is None
    broken = measure_stems(stems, bad_dir / "truncated.flac")
    assert broken.residual_db is None and broken.mixture is None
    assert str(broken.mixture_error).startswith("The file is corrupt or truncated")
    assert broken.stems["foreground"].analysis == measure_stems(stems).stems["foreground"].analysis


def test_it_holds_one_block_per_file_not_the_files(tmp_path: Path):
    rate, minutes = 48000, 2
    noise = np.random.default_rng(0).normal(0, 0.05, (rate * 10, 2)).astype(np.float32)
    with sf.SoundFile(tmp_path / "a.flac", "w", rate, 2, "PCM_24") as out:
        for _ in range(minutes * 6):
            out.write(noise)
    for name in ("b.flac", "mixture.flac"):
        shutil.copy(tmp_path / "a.flac", tmp_path / name)
    stems = {"a": tmp_path / "a.flac", "b": tmp_path / "b.flac"}
    tracemalloc.start()
    measured = measure_stems(stems, tmp_path / "mixture.flac")
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    whole_stem = rate * 60 * minutes * 2 * 8  # what a float64 copy of one stem would take
    assert measured.residual_db == 0.0  # the stems add up to twice the mixture
    assert peak_bytes < whole_stem / 10, (peak_bytes, whole_stem)


def test_a_measurement_that_fails_leaves_that_stem_unmeasured_not_the_stems_unread(
    dev_dir, monkeypatch, caplog
):
    case = dev_dir / DEV01
    stems = {"foreground": case / "foreground.flac", "background": case / "background.flac"}
    real_add = analysis._StemMeter.add

    def add(meter, block):
        if meter is first_meter[0]:
            raise RuntimeError("a bug in a meter")
        real_add(meter, block)

    first_meter: list[object] = []
    real_init = analysis._StemMeter.__init__

    def init(meter, *args, **kwargs):
        real_init(meter, *args, **kwargs)
        if not first_meter:
            first_meter.append(meter)

    monkeypatch.setattr(analysis._StemMeter, "__init__", init)
    monkeypatch.setattr(analysis._StemMeter, "add", add)
    measured = measure_stems(stems, case / "mixture.flac")
    assert measured.stems["foreground"].info.frames == probe(stems["foreground"]).frames
    assert measured.stems["foreground"].analysis is None  # not measured a second time
    assert measured.stems["background"].analysis is not None  # the other stem is measured
    assert measured.residual_db is not None and measured.residual_db < -40
    assert "measuring foreground failed" in caplog.text


def test_a_stem_shorter_than_its_header_announced_is_measured_again_at_its_length(
    dev_dir, tmp_path, monkeypatch
):
    foreground, rate = sf.read(dev_dir / DEV01 / "foreground.flac", dtype="float32")
    sf.write(tmp_path / "foreground.mp3", foreground, rate, format="MP3")
    stems = {"foreground": tmp_path / "foreground.mp3"}
    real_init = analysis.Decoder.__init__

    def init(decoder, *args, **kwargs):  # a header that guesses long, as an MP3's may
        real_init(decoder, *args, **kwargs)
        decoder.announced += decoder.sample_rate

    monkeypatch.setattr(analysis.Decoder, "__init__", init)
    measured = measure_stems(stems).stems["foreground"]
    info = probe(stems["foreground"])
    assert measured.info.frames == info.frames
    assert measured.analysis == analysis.analyze_stem(stems["foreground"], info)
