"""The learned fusion: Spleeter's and DeepFilterNet3's masks in, the foreground mask out.

For one channel of one window (F = 2049 bins of Spleeter's STFT, T frames):

    inputs   V (F, T) Spleeter's vocals mask of the channel, S (F, T) DeepFilterNet's speech
             mask of the mid, L (F, T) log10 of the channel's magnitude, and the mode
             (0: foreground/background, 1: vocals/instrumental)
    bands    each input averaged into K bands (triangular, mel-spaced; a fixed matrix B, K x F)
    network  two 1-D convolutions across the bands of each frame (the frequency context), a
             bidirectional GRU across frames (the time context), a linear layer to 2K values
    output   per band a blend w and a gain g (sigmoids), spread back to bins by B's transpose
             (normalized), and the mask M = g * (w V + (1 - w) S), in [0, 1]

The output is a blend of what the two models already say, so the network chooses per band and
frame whom to trust (the per-bin oracle of the two masks is the ceiling it aims at) and may turn
down what both pass. Background = mixture - foreground, as before, so stems sum to the mixture.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BINS = 2049
BANDS = 96
RATE = 44_100
N_FFT = 4096


def band_matrix(bands: int = BANDS, bins: int = BINS) -> np.ndarray:
    """(bands, bins) triangular filters, mel-spaced from 0 Hz to Nyquist, rows summing to 1.

    Mel scale: m = 2595 log10(1 + f / 700) (O'Shaughnessy 1987).
    """
    freqs = np.linspace(0, RATE / 2, bins)
    mel = 2595 * np.log10(1 + freqs / 700)
    edges = np.linspace(0, mel[-1], bands + 2)
    matrix = np.zeros((bands, bins), np.float32)
    for k in range(bands):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        up = np.ones_like(mel) if k == 0 else (mel - lo) / (mid - lo)  # the ends stay flat,
        down = np.ones_like(mel) if k == bands - 1 else (hi - mel) / (hi - mid)  # so 0 Hz and
        # Nyquist belong to a band too
        matrix[k] = np.clip(np.minimum(up, down), 0, None) * (mel >= lo) * (mel <= hi)
        if matrix[k].sum() == 0:  # narrower than a bin: the nearest bin
            matrix[k, np.argmin(np.abs(mel - mid))] = 1.0
    return matrix / matrix.sum(axis=1, keepdims=True)


class Fusion(nn.Module):
    """The module docstring's network; ``forward`` works on a batch of channels."""

    def __init__(self, bands: int = BANDS, hidden: int = 128) -> None:
        super().__init__()
        matrix = torch.from_numpy(band_matrix(bands))
        self.register_buffer("to_bands", matrix)  # (K, F)
        spread = matrix.T / matrix.T.sum(dim=1, keepdim=True).clamp_min(1e-8)
        self.register_buffer("to_bins", spread)  # (F, K), each bin a weighted mean of bands
        self.conv = nn.Sequential(
            nn.Conv1d(4, 16, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(16, 16, kernel_size=5, padding=2),
            nn.GELU(),
        )
        self.project = nn.Linear(16 * bands, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 2 * bands)
        self.bands = bands

    def forward(
        self,
        vocals: torch.Tensor,
        speech: torch.Tensor,
        log_mag: torch.Tensor,
        mode: torch.Tensor,
    ) -> torch.Tensor:
        """The foreground mask.

        Args:
            vocals, speech, log_mag: (N, F, T) float32.
            mode: (N,) float32, 0 or 1.
        Returns:
            (N, F, T) float32 in [0, 1].
        """
        n, _, t = vocals.shape
        stacked = torch.stack([vocals, speech, log_mag], dim=1)  # (N, 3, F, T)
        banded = torch.einsum("kf,ncft->ntck", self.to_bands, stacked)  # (N, T, 3, K)
        flag = mode.view(n, 1, 1, 1).expand(n, t, 1, self.bands)
        x = torch.cat([banded, flag], dim=2).reshape(n * t, 4, self.bands)
        x = self.conv(x).reshape(n, t, 16 * self.bands)
        x, _ = self.gru(torch.relu(self.project(x)))
        w, g = torch.sigmoid(self.out(x)).reshape(n, t, 2, self.bands).unbind(dim=2)
        w = torch.einsum("fk,ntk->nft", self.to_bins, w)
        g = torch.einsum("fk,ntk->nft", self.to_bins, g)
        return g * (w * vocals + (1 - w) * speech)


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
