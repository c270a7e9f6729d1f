"""The corpus generator: reserved sources refused, a split by recording, mixtures that sum."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from training.corpus import _decode_av, decode
from training.mix import RATE, active_rms, draw, render
from training.reserved import ReservedSource, refuse_reserved
from training.sources import Source, load_manifest
from training.split import shared_keys, side, split


@pytest.mark.parametrize(
    ("registry", "package", "path"),
    [
        ("debian", "fretsonfire-songs-muldjord", ""),
        ("debian", "hyperrogue-music", ""),
        ("debian", "asterisk-core-sounds-en-gsm", ""),
        ("debian", "csound-data", ""),
        ("debian", "fillets-ng-data-cs", ""),
        ("debian", "alsa-utils", ""),
        ("debian", "supercollider-common", ""),
        ("pypi", "basic_pitch", ""),
        ("pypi", "pysptk", ""),
        ("debian", "festvox-us-slt-hts", "usr/share/cmu_us_slt_arctic/wav/arctic_a0001.wav"),
        ("pypi", "some-dataset", "data/Vocadito/Audio/vocadito_1.wav"),
    ],
)
def test_reserved_sources_are_refused(registry, package, path):
    with pytest.raises(ReservedSource):
        refuse_reserved(registry, package, path)


def test_a_reserved_package_in_the_manifest_is_refused_before_anything_is_fetched():
    with pytest.raises(ReservedSource, match="hyperrogue"):
        Source("hr", "debian", "hyperrogue-music", "1", "0" * 64, "GPL", "music", ("*.ogg",))


def test_other_sources_pass():
    refuse_reserved("debian", "wesnoth-1.16-music", "usr/share/games/wesnoth/music/a.ogg")
    refuse_reserved("pypi", "pygame", "pygame/examples/data/house_lo.ogg")


def test_the_manifest_names_no_reserved_source_and_pins_every_file():
    sources = load_manifest()
    assert sources
    for source in sources:
        assert len(source.sha256) == 64 and source.licence and source.version


def test_train_and_validation_share_no_recording_and_the_split_is_stable():
    keys = [f"src{i % 7}:file{i}.ogg" for i in range(2000)]
    train, validation = split(keys, key=lambda k: k)
    assert not shared_keys(train, validation)
    assert 0.1 < len(validation) / len(keys) < 0.2
    # A recording's side does not depend on the others.
    assert [side(k) for k in keys[:50]] == [side(k) for k in reversed(keys[:50])][::-1]


def test_a_mixture_sums_to_its_stems_and_hits_its_level():
    rng = np.random.default_rng(3)
    t = np.arange(20 * RATE) / RATE
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0))[:, None]
    music = np.stack([np.sin(2 * np.pi * 110 * t), np.sin(2 * np.pi * 165 * t)], 1) * 0.2
    recipe = draw(rng, 8.0, 20.0, 20.0, spoken=True)
    recipe = type(recipe)(
        **{
            **recipe.__dict__,
            "fg_span": (0.0, 1.0),
            "codec": "none",
            "rt60_s": 0.0,
            "band": "full",
            "silence": (0.0, 0.0),
        }
    )
    mixture, fg, bg = render(recipe, voice.astype(np.float32), music.astype(np.float32), 0)
    assert mixture.shape == fg.shape == bg.shape == (8 * RATE, 2)
    assert np.abs(mixture - (fg + bg)).max() < 1e-6
    level = 20 * np.log10(active_rms(fg) / np.sqrt((bg**2).mean()))
    assert level == pytest.approx(recipe.fg_level_db, abs=0.2)
    assert 20 * np.log10(np.abs(mixture).max()) == pytest.approx(recipe.peak_db, abs=0.01)


@pytest.mark.parametrize("codec", ["mp3", "aac"])
def test_lossy_mixtures_are_aligned_and_still_sum(codec):
    rng = np.random.default_rng(4)
    t = np.arange(10 * RATE) / RATE
    voice = (0.3 * np.sin(2 * np.pi * 330 * t))[:, None].astype(np.float32)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110, 138.6, 164.8, 220))
    music = np.stack([chord, np.roll(chord, 300)], 1).astype(np.float32) * 0.05
    recipe = draw(rng, 6.0, 10.0, 10.0, spoken=True)
    recipe = type(recipe)(
        **{
            **recipe.__dict__,
            "codec": codec,
            "bitrate_k": 192,
            "fg_span": (0.0, 1.0),
            "silence": (0.0, 0.0),
        }
    )
    mixture, fg, bg = render(recipe, voice, music, 0)
    assert np.abs(mixture - (fg + bg)).max() < 1e-6
    # Aligned: the coding noise (in the background) is far below the mixture.
    clean, *_ = render(type(recipe)(**{**recipe.__dict__, "codec": "none"}), voice, music, 0)
    assert 10 * np.log10((clean**2).sum() / ((mixture - clean) ** 2).sum()) > 15


def test_recordings_are_decoded_at_the_mixing_rate_by_either_decoder(tmp_path):
    path = tmp_path / "clip.wav"
    t = np.arange(22050) / 22050
    sf.write(path, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    by_soundfile, by_pyav = decode(path), _decode_av(path)
    assert by_soundfile.shape == (RATE, 1)
    assert by_pyav.shape[1] == 2 and abs(len(by_pyav) - RATE) < 64
    assert float(np.abs(by_soundfile).max()) == pytest.approx(0.5, abs=0.02)
