"""The engine's own view of every corpus mixture: Spleeter's and DeepFilterNet3's masks.

    python -m training.features --corpus var/training/corpus [--jobs 2]

For each mixture folder, runs :meth:`audio.engine.separator.Engine.masks` exactly as a job
does (the same model files, a fresh DeepFilterNet stream per mixture) and stores
``masks.npz``: ``vocals`` (2, 2049, T) and ``speech`` (2049, T), quantized to uint8 (1/255
steps; the fusion sees them through that rounding in training only). The mixture's and the
foreground's STFTs are recomputed from the FLAC files when training, not stored.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from audio.engine.separator import Engine

_engine: Engine | None = None


def _quantize(mask: np.ndarray) -> np.ndarray:
    return np.round(np.clip(mask, 0.0, 1.0) * 255).astype(np.uint8)


def masks_of(engine: Engine, folder: Path) -> None:
    """Write ``folder/masks.npz`` for ``folder/mixture.flac`` (skipped when present)."""
    target = folder / "masks.npz"
    if target.exists():
        return
    mixture, rate = sf.read(folder / "mixture.flac", dtype="float32", always_2d=True)
    dfn = engine._deepfilter()
    try:
        m = engine.masks(mixture, rate, dfn)
    finally:
        dfn.close()
    partial = target.with_suffix(".tmp.npz")
    np.savez(partial, vocals=_quantize(m.vocals), speech=_quantize(m.speech))
    partial.rename(target)


def _work(args: tuple[str, str]) -> str:
    global _engine
    model_dir, folder = args
    if _engine is None:
        _engine = Engine(Path(model_dir), threads=1)
    masks_of(_engine, Path(folder))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("var/training/corpus"))
    parser.add_argument(
        "--models", type=Path, default=Path(os.environ.get("STEMWEB_MODEL_DIR", "var/models"))
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    folders = sorted(str(p.parent) for p in args.corpus.glob("*/*/mixture.flac"))
    with ProcessPoolExecutor(args.jobs) as pool:
        for done, _ in enumerate(pool.map(_work, [(str(args.models), f) for f in folders]), 1):
            if done % 50 == 0 or done == len(folders):
                print(f"masks: {done}/{len(folders)}", flush=True)


if __name__ == "__main__":
    main()
