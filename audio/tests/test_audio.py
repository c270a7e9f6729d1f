"""Upload probing: every broken file gets its own plain message; real formats are described."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio.probe import AudioError, probe, read_blocks

BAD = {
    "empty.wav": "empty",
    "truncated.flac": "corrupt or truncated",
    "text_renamed.mp3": "not an audio file",
    "png_renamed.wav": "no audio stream",
    "huge_header.wav": "no audio samples",
}


@pytest.mark.parametrize(("name", "message"), BAD.items())
def test_it_rejects_broken_files_with_a_reason(bad_dir, name, message):
    with pytest.raises(AudioError, match=message):
        probe(bad_dir / name)


@pytest.mark.parametrize(
    ("name", "frames", "peak_is_zero"),
    [
        ("one_sample.wav", 1, False),
        ("half_second.wav", 22050, False),
        ("silence_3s.flac", 132300, True),
    ],
)
def test_it_measures_valid_edge_cases(bad_dir, name, frames, peak_is_zero):
    info = probe(bad_dir / name)
    assert info.frames == frames
    assert info.is_silent is peak_is_zero


@pytest.mark.parametrize(
    ("suffix", "container", "reader"),
    [("flac", "FLAC", "soundfile"), ("mp3", "MP3", "soundfile"), ("m4a", "M4A", "pyav")],
)
def test_it_describes_each_upload_format(dev_dir, suffix, container, reader):
    info = probe(dev_dir / "dev01_speech_en_female__rock" / f"mixture.{suffix}")
    assert (info.container, info.reader) == (container, reader)
    assert (info.sample_rate, info.channels, info.frames) == (44100, 2, 882000)
    assert info.duration_s == pytest.approx(20.0)


def test_aac_is_trimmed_to_the_probed_duration_and_aligned(dev_dir):
    case = dev_dir / "dev01_speech_en_female__rock"
    info = probe(case / "mixture.m4a")
    decoded = np.concatenate(list(read_blocks(case / "mixture.m4a", info)))
    reference, _ = sf.read(case / "mixture.flac", dtype="float32")
    assert decoded.shape == reference.shape  # the decoder's 688 padding frames are gone
    assert np.corrcoef(decoded[:, 0], reference[:, 0])[0, 1] > 0.99


def test_it_rejects_unsupported_formats(tmp_path):
    path = tmp_path / "tone.aiff"
    sf.write(path, np.zeros((44100, 1)) + 0.1, 44100, format="AIFF")
    with pytest.raises(AudioError, match="not supported"):
        probe(path)
