"""Decode bombs and lying headers: the work ``probe`` does is bounded by the limits and the
budget, never by what a header announces."""

from __future__ import annotations

import av
import numpy as np
import pytest

from audio.probe import AudioError, Limits, probe
from tests.fixtures import DEV01, flac_claiming, write_flac

LIMITS = Limits(longest_s=20 * 60, channels=8, sample_rate=192000)
TWO_HOURS_8CH_96K = {"frames": 2 * 3600 * 96000, "channels": 8, "rate": 96000}


def test_a_header_announcing_hours_is_refused_before_any_decoding(tmp_path):
    # One second of stereo audio under a header announcing two hours of 8-channel 96 kHz:
    # decoding it would fail ("flac channel changed mid stream"), so the duration message
    # shows that nothing was decoded before the header was checked.
    bomb = flac_claiming(write_flac(tmp_path / "bomb.flac", 1), **TWO_HOURS_8CH_96K)
    with pytest.raises(AudioError, match=r"too long \(2 h 00 min\); the maximum is 20 min 00 s"):
        probe(bomb, limits=LIMITS, budget_s=30)


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ({"channels": 6}, "has 6 channels; the most stemweb takes is 2"),
        ({"rate": 96000}, "sample rate is 96 kHz; the highest stemweb takes is 48 kHz"),
    ],
)
def test_channels_and_rate_over_the_limits_are_refused_from_the_header(tmp_path, claim, message):
    path = flac_claiming(write_flac(tmp_path / "wide.flac", 1), **claim)
    with pytest.raises(AudioError, match=message):
        probe(path, limits=Limits(longest_s=60, channels=2, sample_rate=48000))


def test_without_a_length_in_the_header_decoding_stops_at_the_limit(tmp_path):
    # A FLAC that does not say its length: libsndfile would fail at its end ("corrupt"), so
    # "goes on past" shows decoding stopped at the 10 s limit, not at the file's 30 s.
    path = flac_claiming(write_flac(tmp_path / "unknown.flac", 30, rate=8000), frames=0)
    with pytest.raises(AudioError, match=r"the maximum is 10\.0 s, and it goes on past that"):
        probe(path, limits=Limits(longest_s=10, channels=2, sample_rate=48000))


def test_without_a_length_in_the_header_the_web_decodes_only_its_budget(tmp_path):
    path = flac_claiming(write_flac(tmp_path / "unknown.flac", 30, rate=8000), frames=0)
    with pytest.raises(AudioError, match="does not say how long the recording is"):
        probe(path, limits=LIMITS, budget_s=5)


def test_a_header_announcing_less_than_the_file_holds_is_read_no_further(tmp_path):
    path = flac_claiming(write_flac(tmp_path / "liar.flac", 30, rate=8000), frames=5 * 8000)
    info = probe(path, limits=Limits(longest_s=10, channels=2, sample_rate=48000))
    assert (info.frames, info.checked_frames, info.complete) == (5 * 8000, 5 * 8000, True)


def write_understated_aac(path, rate: int = 22050):
    """Raw AAC (ADTS): one second of noise, then 29 s of silence. FFmpeg estimates a raw AAC
    file's length from its first frames' bitrate, so this one announces about 4 s."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="adts") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for second in range(30):
            level = 0.3 if second == 0 else 0.0
            samples = (rng.standard_normal((1, rate)) * level).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, second * rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_an_aac_announcing_less_than_it_holds_stops_decoding_at_the_limit(tmp_path):
    # Decoded to its end, this file would be trimmed to the 4 s it announces and accepted: the
    # refusal shows decoding stopped at the 10 s limit.
    path = write_understated_aac(tmp_path / "liar.aac")
    with pytest.raises(AudioError, match="and it goes on past that"):
        probe(path, limits=Limits(longest_s=10, channels=2, sample_rate=48000))


def test_an_aac_announcing_less_than_the_web_decoded_is_refused(tmp_path):
    path = write_understated_aac(tmp_path / "liar.aac")
    with pytest.raises(AudioError, match=r"says the recording is 4\.0 s long, but it goes on"):
        probe(path, limits=LIMITS, budget_s=5)


def test_a_long_file_is_checked_within_the_budget_and_described_by_its_header(tmp_path):
    path = write_flac(tmp_path / "long.flac", 600, rate=8000, channels=1, level=0.0)
    info = probe(path, limits=LIMITS, budget_s=5)
    assert info.frames == 600 * 8000 and info.duration_s == 600
    assert info.checked_frames == 5 * 8000 + 1  # one frame past the budget: the file goes on
    assert not info.complete
    assert not info.is_silent  # silent so far; only the whole decode may say so


def test_a_file_within_the_budget_is_checked_whole(tmp_path):
    path = write_flac(tmp_path / "short.flac", 3, rate=8000, channels=1, level=0.0)
    info = probe(path, limits=LIMITS, budget_s=5)
    assert (info.frames, info.checked_frames, info.complete, info.is_silent) == (
        24000,
        24000,
        True,
        True,
    )


@pytest.mark.parametrize("suffix", ["mp3", "m4a"])
def test_mp3_and_aac_are_checked_within_the_budget_too(dev_dir, suffix):
    info = probe(dev_dir / DEV01 / f"mixture.{suffix}", limits=LIMITS, budget_s=5)
    assert info.frames == 882000 and not info.complete
    assert info.checked_frames == 5 * 44100 + 1
