"""Train the learned fusion on the corpus's train side; keep the epoch best on its validation.

    python -m training.train --corpus var/training/corpus --out var/training/run [--minutes 25]

Loss: minus the SI-SDR (Le Roux et al., ICASSP 2019) of the foreground estimate M X against
the true foreground, plus that of the background estimate X - M X against the true background
(only the background's for a mixture with no foreground). It is computed on the complex STFT:
Spleeter's periodic-Hann 4096 / hop 1024 STFT is a tight frame, so inner products there are
the time domain's up to one constant, and so is SI-SDR (but for the first and last frames).
Items are random 6 s crops of one channel; the mode input is 1 (vocals/instrumental) for half
of the sung items and a fifth of the others. Seeded: the same corpus gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audio.engine import spleeter
from training.model import Fusion, parameters

CROP_FRAMES = 258  # 6 s of 1024-sample hops
EPS = 1e-8


class Item:
    """One mixture: its audio (padded for :func:`stft_frames`) and the models' masks."""

    def __init__(self, folder: Path) -> None:
        self.name = folder.name
        self.sung = folder.name.endswith("singing")
        masks = np.load(folder / "masks.npz")
        self.vocals = masks["vocals"]  # (2, F, T) uint8
        self.speech = masks["speech"]  # (F, T) uint8
        self.frames = self.speech.shape[1]
        self.audio = {}
        for stem in ("mixture", "foreground"):
            audio, _ = sf.read(folder / f"{stem}.flac", dtype="float32", always_2d=True)
            self.audio[stem] = pad(audio.T, self.frames).astype(np.float16)


def pad(audio: np.ndarray, frames: int) -> np.ndarray:
    """(channels, samples) with the zeros :func:`spleeter.stft` implies around it: frame k of
    the padded signal starts at sample k * HOP."""
    left = 2 * spleeter.HOP + spleeter.N_FFT // 2
    total = (frames - 1) * spleeter.HOP + spleeter.N_FFT
    out = np.zeros((audio.shape[0], total), np.float32)
    n = min(audio.shape[1], total - left)
    out[:, left : left + n] = audio[:, :n]
    return out


WINDOW = torch.hann_window(spleeter.N_FFT, periodic=True)


def stft_frames(padded: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Frames [start, stop) of :func:`spleeter.stft` from the padded signal (..., samples).

    Equal to it up to a phase factor (-1)^k in bin k (scipy refers the phase to the window's
    centre, torch to its start), which neither a real mask nor SI-SDR sees."""
    segment = padded[..., start * spleeter.HOP : (stop - 1) * spleeter.HOP + spleeter.N_FFT]
    return torch.stft(
        segment, spleeter.N_FFT, spleeter.HOP, window=WINDOW, center=False, return_complex=True
    )


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB of complex (N, ...) tensors, one value per item (N,)."""
    dims = tuple(range(1, estimate.dim()))
    dot = (estimate * reference.conj()).real.sum(dim=dims)
    energy = (reference.abs() ** 2).sum(dim=dims) + EPS
    target = (dot / energy).view(-1, *[1] * len(dims)) * reference
    noise = estimate - target
    return 10 * torch.log10(
        ((target.abs() ** 2).sum(dim=dims) + EPS) / ((noise.abs() ** 2).sum(dim=dims) + EPS)
    )


def tensors(items: list[Item], rng: np.random.Generator | None, crop: int | None):
    """A batch: one channel of each item (random, or both when ``rng`` is None), cropped."""
    rows = []
    for item in items:
        channels = [int(rng.integers(2))] if rng is not None else [0, 1]
        start = int(rng.integers(0, max(1, item.frames - crop))) if rng is not None and crop else 0
        stop = min(item.frames, start + crop) if crop else item.frames
        for c in channels:
            mode = 0.0
            if rng is not None:
                mode = float(rng.random() < (0.5 if item.sung else 0.2))
            rows.append(
                (
                    item.vocals[c, :, start:stop],
                    item.speech[:, start:stop],
                    item.audio["mixture"][c],
                    item.audio["foreground"][c],
                    mode,
                    start,
                    stop,
                )
            )
    vocals = torch.from_numpy(np.stack([r[0] for r in rows]).astype(np.float32) / 255)
    speech = torch.from_numpy(np.stack([r[1] for r in rows]).astype(np.float32) / 255)
    mix = torch.stack(
        [stft_frames(torch.from_numpy(r[2].astype(np.float32)), r[5], r[6]) for r in rows]
    )
    fg = torch.stack(
        [stft_frames(torch.from_numpy(r[3].astype(np.float32)), r[5], r[6]) for r in rows]
    )
    mode = torch.tensor([r[4] for r in rows], dtype=torch.float32)
    log_mag = torch.log10(mix.abs() + 1e-5)
    return vocals, speech, log_mag, mode, mix, fg


def loss_of(model: Fusion, batch) -> tuple[torch.Tensor, torch.Tensor]:
    vocals, speech, log_mag, mode, mix, fg = batch
    mask = model(vocals, speech, log_mag, mode)
    estimate = mask * mix
    has_fg = (fg.abs() ** 2).flatten(1).sum(dim=1) > 1e-6 * (mix.abs() ** 2).flatten(1).sum(1)
    fg_score = si_sdr(estimate, fg)
    bg_score = si_sdr(mix - estimate, mix - fg)
    loss = -(torch.where(has_fg, fg_score, torch.zeros_like(fg_score)) + bg_score).mean()
    return loss, fg_score[has_fg]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("var/training/corpus"))
    parser.add_argument("--out", type=Path, default=Path("var/training/run"))
    parser.add_argument("--minutes", type=float, default=25.0)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    def load(where: str) -> list[Item]:
        return [Item(p.parent) for p in sorted((args.corpus / where).glob("*/masks.npz"))]

    train, validation = load("train"), load("validation")
    model = Fusion()
    print(
        f"fusion: {parameters(model)} parameters; {len(train)} train, {len(validation)} "
        f"validation mixtures",
        flush=True,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    deadline = time.monotonic() + args.minutes * 60
    best, history, epoch = -np.inf, [], 0
    while time.monotonic() < deadline:
        epoch += 1
        model.train()
        order = rng.permutation(len(train))
        losses = []
        for start in range(0, len(order), args.batch):
            batch = tensors([train[i] for i in order[start : start + args.batch]], rng, CROP_FRAMES)
            loss, _ = loss_of(model, batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            scores = [loss_of(model, tensors([item], None, None))[1] for item in validation]
        score = float(torch.cat(scores).mean())
        history.append(
            {"epoch": epoch, "train_loss": float(np.mean(losses)), "validation_fg_si_sdr": score}
        )
        print(json.dumps(history[-1]), flush=True)
        if score > best:
            best = score
            torch.save(model.state_dict(), args.out / "fusion.pt")
    (args.out / "history.json").write_text(json.dumps(history, indent=1))


if __name__ == "__main__":
    main()
