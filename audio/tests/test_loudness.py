"""Streamed loudness equals pyloudnorm's whole-signal measurement, in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from audio.analysis import analyze_stem
from audio.loudness import LoudnessMeter
from audio.probe import probe


def _streamed(audio: np.ndarray, rate: int, block: int) -> float:
    meter = LoudnessMeter(rate, audio.shape[1], len(audio))
    for start in range(0, len(audio), block):
        meter.add(audio[start : start + block])
    return meter.integrated()


@pytest.mark.parametrize("stem", ["mixture", "foreground", "background"])
def test_it_matches_pyloudnorm_on_real_recordings(dev_dir, stem):
    audio, rate = sf.read(
        dev_dir / "dev04_announcements_en_panned__demosong" / f"{stem}.flac",
        dtype="float64",
        always_2d=True,
    )
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert _streamed(audio, rate, 65536) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("rate", "channels", "seconds"), [(11025, 1, 3.3), (48000, 5, 2.0)])
def test_it_matches_pyloudnorm_at_odd_rates_channels_and_block_sizes(rate, channels, seconds):
    audio = np.random.default_rng(3).normal(0, 0.05, (round(rate * seconds), channels))
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert _streamed(audio, rate, 997) == pytest.approx(expected, abs=1e-6)


def test_silence_has_no_loudness():
    assert _streamed(np.zeros((44100, 2)), 44100, 4096) == -np.inf


def test_a_decode_that_stops_short_measures_the_blocks_it_fed(recwarn):
    rate = 44100
    audio = np.random.default_rng(5).normal(0, 0.1, (rate * 4, 2))
    meter = LoudnessMeter(rate, 2, len(audio))  # 4 s announced, 2.5 s fed (a truncated file)
    fed = audio[: round(rate * 2.5)]
    meter.add(fed)
    expected = pyloudnorm.Meter(rate).integrated_loudness(fed)  # its blocks: up to 2.5 s
    assert meter.integrated() == pytest.approx(expected, abs=1e-6)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert LoudnessMeter(rate, 2, len(audio)).integrated() == -np.inf  # nothing fed


def test_measuring_a_long_stem_holds_one_block_not_the_stem(tmp_path: Path):
    rate, minutes = 48000, 2
    path = tmp_path / "long.flac"
    noise = np.random.default_rng(0).normal(0, 0.05, (rate * 10, 2)).astype(np.float32)
    with sf.SoundFile(path, "w", rate, 2, "PCM_24") as out:
        for _ in range(minutes * 6):
            out.write(noise)
    info = probe(path)
    tracemalloc.start()
    analysis = analyze_stem(path, info)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    whole_stem = info.frames * info.channels * 8  # what a float64 copy of the stem would take
    assert analysis.lufs is not None and -25 < analysis.lufs < -15
    assert peak_bytes < whole_stem / 10, (peak_bytes, whole_stem)
