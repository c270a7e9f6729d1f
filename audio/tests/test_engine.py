"""The neural local engine: exact reconstruction, streaming, determinism, edge cases, quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from audio.engine.fusion import Mode
from audio.engine.separator import Engine, EngineParams

SMALL = EngineParams(segment_s=0.6, preroll_s=0.2, crossfade_s=0.2)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """One engine for the session, from the installed model files (`make models`)."""
    return Engine(Path(settings.STEMWEB_MODEL_DIR))


def _stream(engine, mixture, rate, *, params=SMALL, block=65536, mode=Mode.FOREGROUND):
    blocks = (mixture[i : i + block] for i in range(0, len(mixture), block))
    pairs = list(engine.stream(blocks, rate, mode, params=params))
    fg = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros((0, mixture.shape[1]))
    bg = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros((0, mixture.shape[1]))
    return fg, bg


@hyp_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.integers(1, 3),
    frames=st.integers(1, 40_000),
    rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    block=st.integers(500, 20_000),
    mode=st.sampled_from(list(Mode)),
    seed=st.integers(0, 2**32 - 1),
)
def test_foreground_plus_background_is_the_mixture(
    engine, channels, frames, rate, block, mode, seed
):
    rng = np.random.default_rng(seed)
    mixture = (rng.uniform(-1, 1, (frames, channels)) * rng.uniform(0, 1)).astype(np.float32)
    fg, bg = _stream(engine, mixture, rate, block=block, mode=mode)
    assert fg.shape == bg.shape == mixture.shape
    assert np.all(np.isfinite(fg))
    np.testing.assert_allclose(fg + bg, mixture, atol=1e-4, rtol=0)


def test_the_same_input_gives_the_same_stems(engine, mixture):
    audio, rate = sf.read(mixture, dtype="float32", always_2d=True)
    audio = audio[: rate * 6]
    first, _ = _stream(engine, audio, rate, params=EngineParams(segment_s=2.0))
    again, _ = _stream(engine, audio, rate, params=EngineParams(segment_s=2.0))
    np.testing.assert_array_equal(first, again)
    assert np.sum(first**2) > 0


def test_block_size_does_not_change_the_stems(engine):
    rng = np.random.default_rng(7)
    audio = rng.normal(0, 0.1, (16000 * 3, 2)).astype(np.float32)
    fg_a, _ = _stream(engine, audio, 16000, block=1000)
    fg_b, _ = _stream(engine, audio, 16000, block=48000)
    np.testing.assert_allclose(fg_a, fg_b, atol=1e-6)


def test_progress_reaches_every_frame(engine):
    audio = np.random.default_rng(1).normal(0, 0.1, (16000 * 2, 1)).astype(np.float32)
    seen: list[int] = []
    list(engine.stream([audio], 16000, Mode.FOREGROUND, params=SMALL, on_frames=seen.append))
    assert seen == sorted(seen)
    assert seen[-1] == len(audio)
    assert len(seen) > 1


def test_silence_gives_silent_stems_without_nan(engine, bad_dir):
    silence, rate = sf.read(bad_dir / "silence_3s.flac", dtype="float32", always_2d=True)
    fg, bg = _stream(engine, silence, rate, params=EngineParams())
    assert np.all(fg == 0) and np.all(bg == 0)


def test_half_a_second_is_padded_not_crashed(engine, bad_dir):
    clip, rate = sf.read(bad_dir / "half_second.wav", dtype="float32", always_2d=True)
    fg = engine.foreground(clip, rate, Mode.FOREGROUND)
    assert fg.shape == clip.shape and np.all(np.isfinite(fg))
    assert 0 < np.sum(fg**2) < np.sum(clip**2)


def test_provenance_names_each_model_with_its_sha256(engine):
    provenance = engine.provenance
    assert provenance["version"]
    names = [m["name"] for m in provenance["models"]]
    assert any("DeepFilterNet3" in n for n in names) and any("Spleeter" in n for n in names)
    assert all(len(m["sha256"]) == 64 for m in provenance["models"])


def _si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019), pooled over channels."""
    ref = reference - reference.mean(0)
    est = estimate - estimate.mean(0)
    scale = np.sum(est * ref, 0) / np.sum(ref * ref, 0)
    target = scale * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


@pytest.mark.parametrize(
    "case",
    ["dev02_speech_en_male__soundtrack", "dev05_sung_female__soundtrack"],
    ids=["spoken", "sung"],
)
def test_it_separates_real_recordings_spoken_and_sung(engine, dev_dir, case):
    folder = dev_dir / case
    mixture, rate = sf.read(folder / "mixture.flac", dtype="float32", always_2d=True)
    voice, _ = sf.read(folder / "foreground.flac", dtype="float32", always_2d=True)
    fg, _ = _stream(engine, mixture, rate, params=EngineParams())
    # Improvement over handing back the mixture (SI-SDRi). Measured +13.4 (spoken), +14.9 (sung).
    assert _si_sdr(voice, fg) - _si_sdr(voice, mixture) >= 8.0


@pytest.mark.parametrize("rate", [16000, 48000])
def test_it_handles_other_sample_rates(engine, rate):
    audio = np.random.default_rng(5).normal(0, 0.1, (rate, 2)).astype(np.float32)
    fg = engine.foreground(audio, rate, Mode.VOCALS)
    assert fg.shape == audio.shape and np.all(np.isfinite(fg))
