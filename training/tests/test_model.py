"""The exported graph computes what the PyTorch module does (where torch is installed: the
training environment, `make train`; the app's, and so CI's, has no torch)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from training.export import export, max_difference  # noqa: E402
from training.model import BINS, Fusion, band_matrix, parameters  # noqa: E402


def test_the_onnx_graph_matches_the_module(tmp_path):
    torch.manual_seed(0)
    model = Fusion()
    path = tmp_path / "fusion.onnx"
    export(model, path)
    assert max_difference(model, path) < 1e-4
    assert path.stat().st_size < 5 * 2**20


def test_the_network_is_small_and_its_mask_a_blend_of_the_two():
    model = Fusion().eval()
    assert parameters(model) < 1_000_000
    vocals, speech = torch.zeros(1, BINS, 20), torch.ones(1, BINS, 20)
    with torch.no_grad():
        mask = model(vocals, speech, torch.zeros(1, BINS, 20), torch.zeros(1))
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0


def test_the_bands_cover_every_bin():
    matrix = band_matrix()
    assert (matrix.sum(axis=0) > 0).all()
