"""Export the trained fusion to ONNX, and check the graph against the module.

    python -m training.export --weights var/training/run/fusion.pt --out audio/engine/fusion.onnx

Inputs of the graph (names as in :meth:`training.model.Fusion.forward`): ``vocals``,
``speech``, ``log_mag`` (N, 2049, T) float32 and ``mode`` (N,) float32; output ``mask``
(N, 2049, T). N and T are dynamic. Opset 17.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from training.model import BINS, Fusion


def example(n: int = 2, frames: int = 64, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A fixed input: masks in [0, 1], log-magnitudes of a plausible range, both modes."""
    g = torch.Generator().manual_seed(seed)
    vocals = torch.rand(n, BINS, frames, generator=g)
    speech = torch.rand(n, BINS, frames, generator=g)
    log_mag = torch.rand(n, BINS, frames, generator=g) * 6 - 4
    mode = torch.tensor([float(i % 2) for i in range(n)])
    return vocals, speech, log_mag, mode


def export(model: Fusion, out: Path) -> None:
    model.eval()
    torch.onnx.export(
        model,
        example(),
        str(out),
        input_names=["vocals", "speech", "log_mag", "mode"],
        output_names=["mask"],
        dynamic_axes={
            name: {0: "n", 2: "frames"} for name in ("vocals", "speech", "log_mag", "mask")
        }
        | {"mode": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def max_difference(model: Fusion, onnx_path: Path, frames: int = 97) -> float:
    """The largest |module - graph| on :func:`example` input of ``frames`` frames."""
    inputs = example(frames=frames, seed=1)
    with torch.no_grad():
        expected = model(*inputs).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = ("vocals", "speech", "log_mag", "mode")
    got = session.run(None, {k: v.numpy() for k, v in zip(names, inputs, strict=True)})[0]
    return float(np.abs(expected - got).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=Path("var/training/run/fusion.pt"))
    parser.add_argument("--out", type=Path, default=Path("audio/engine/fusion.onnx"))
    args = parser.parse_args()
    model = Fusion()
    model.load_state_dict(torch.load(args.weights, weights_only=True))
    export(model, args.out)
    print(
        f"{args.out}: {args.out.stat().st_size} bytes; max |torch - onnx| = "
        f"{max_difference(model, args.out):.2e}"
    )


if __name__ == "__main__":
    main()
