"""The local engine: exact reconstruction, streaming, edge cases, and real separation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jobs.engine import EngineParams, median_filter_axis, separate_foreground, separate_stream

SMALL = EngineParams(segment_s=0.5, crossfade_s=0.1)


def _stream(mixture: np.ndarray, rate: int, params: EngineParams, block: int):
    blocks = (mixture[i : i + block] for i in range(0, len(mixture), block))
    pairs = list(separate_stream(blocks, rate, params=params))
    fg = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros((0, mixture.shape[1]))
    bg = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros((0, mixture.shape[1]))
    return fg, bg


@settings(max_examples=25, deadline=None)
@given(
    channels=st.integers(1, 2),
    frames=st.integers(1, 30_000),
    rate=st.sampled_from([8000, 16000, 22050, 44100]),
    block=st.integers(500, 20_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_foreground_plus_background_is_the_mixture(channels, frames, rate, block, seed):
    rng = np.random.default_rng(seed)
    mixture = (rng.uniform(-1, 1, (frames, channels)) * rng.uniform(0, 1)).astype(np.float32)
    fg, bg = _stream(mixture, rate, SMALL, block)
    assert fg.shape == bg.shape == mixture.shape
    assert np.all(np.isfinite(fg))
    np.testing.assert_allclose(fg + bg, mixture, atol=1e-4, rtol=0)


@settings(max_examples=10, deadline=None)
@given(values=arrays(np.float32, (4000, 2), elements=st.floats(-1, 1, width=32)))
def test_any_signal_reconstructs(values):
    fg, bg = _stream(values, 8000, SMALL, 1000)
    np.testing.assert_allclose(fg + bg, values, atol=1e-4, rtol=0)


def test_streaming_in_any_block_size_gives_the_same_stems():
    rng = np.random.default_rng(7)
    mixture = rng.normal(0, 0.1, (16000 * 3, 2)).astype(np.float32)
    fg_a, _ = _stream(mixture, 16000, SMALL, 1000)
    fg_b, _ = _stream(mixture, 16000, SMALL, 48000)
    np.testing.assert_allclose(fg_a, fg_b, atol=1e-6)


def test_progress_reaches_every_frame():
    mixture = np.random.default_rng(1).normal(0, 0.1, (16000 * 2, 1)).astype(np.float32)
    seen: list[int] = []
    list(separate_stream([mixture], 16000, params=SMALL, on_frames=seen.append))
    assert seen == sorted(seen)
    assert seen[-1] == len(mixture)
    assert len(seen) > 1


def test_silence_gives_silent_stems_without_nan(bad_dir):
    silence, rate = sf.read(bad_dir / "silence_3s.flac", dtype="float32", always_2d=True)
    fg, bg = _stream(silence, rate, EngineParams(), 65536)
    assert np.all(fg == 0) and np.all(bg == 0)


def test_half_a_second_is_padded_not_crashed(bad_dir):
    clip, rate = sf.read(bad_dir / "half_second.wav", dtype="float32", always_2d=True)
    fg = separate_foreground(clip, rate)
    assert fg.shape == clip.shape and np.all(np.isfinite(fg))
    assert 0 < np.sum(fg**2) < np.sum(clip**2)


def test_median_filter_matches_scipy():
    x = np.random.default_rng(3).random((37, 51)).astype(np.float32)
    for axis, size in ((0, (17, 1)), (1, (1, 17))):
        expected = ndi.median_filter(x, size=size, mode="reflect")
        np.testing.assert_array_equal(median_filter_axis(x, 17, axis=axis), expected)


def _si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019), pooled over channels."""
    ref = reference - reference.mean(0)
    est = estimate - estimate.mean(0)
    scale = np.sum(est * ref, 0) / np.sum(ref * ref, 0)
    target = scale * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


def test_it_separates_speech_from_music_on_a_real_recording(dev_dir):
    case = dev_dir / "dev02_speech_en_male__soundtrack"
    mixture, rate = sf.read(case / "mixture.flac", dtype="float32", always_2d=True)
    speech, _ = sf.read(case / "foreground.flac", dtype="float32", always_2d=True)
    music, _ = sf.read(case / "background.flac", dtype="float32", always_2d=True)
    fg, bg = _stream(mixture, rate, EngineParams(), 65536)
    # Improvement over handing back the mixture, in dB (SI-SDRi). Measured +4.9 / +1.1.
    assert _si_sdr(speech, fg) - _si_sdr(speech, mixture) > 3.0
    assert _si_sdr(music, bg) - _si_sdr(music, mixture) > 0.5


@pytest.mark.parametrize("rate", [16000, 48000])
def test_it_handles_other_sample_rates(rate):
    mixture = np.random.default_rng(5).normal(0, 0.1, (rate, 2)).astype(np.float32)
    fg = separate_foreground(mixture, rate)
    assert fg.shape == mixture.shape
