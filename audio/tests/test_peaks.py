"""Waveform peaks: the largest absolute sample in each of BUCKETS equal slices, the same for a
stem (with its loudness) and for a project's source (peaks alone)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import soundfile as sf

from audio.analysis import BUCKETS, analyze_stem, peaks_json, waveform_peaks
from audio.probe import probe


def test_peaks_are_each_slices_largest_sample_over_channels(tmp_path: Path):
    rate, frames = 8000, 8000 * 3 + 123  # slices that do not fall on block edges
    audio = np.random.default_rng(7).uniform(-0.5, 0.5, (frames, 2)).astype(np.float32)
    audio[5000, 1] = -0.9  # one loud sample in one channel
    path = tmp_path / "noise.wav"
    sf.write(path, audio, rate, subtype="FLOAT")
    info = probe(path)

    peaks = waveform_peaks(path, info)

    edges = np.linspace(0, frames, BUCKETS + 1).astype(np.int64)
    envelope = np.abs(audio).max(axis=1)
    expected = [round(float(envelope[a:b].max()), 4) for a, b in pairwise(edges)]
    assert peaks == expected and len(peaks) == BUCKETS
    assert max(peaks) == 0.9
    assert analyze_stem(path, info).peaks == peaks


def test_the_stored_document_is_what_players_read():
    document = json.loads(peaks_json([0.5, 1.0], 20.0))
    assert document == {"buckets": 2, "duration_s": 20.0, "peaks": [0.5, 1.0]}
    assert " " not in peaks_json([0.5, 1.0], 20.0)
