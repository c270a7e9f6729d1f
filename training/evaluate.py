"""Score fusions side by side on cases with known stems (the dev set, the corpus's validation).

    python -m training.evaluate --cases ../shared/audio/dev [--fusion audio/engine/fusion.onnx]

Each case is one window (the whole file, up to 23.6 s), separated from the engine's own masks
(:meth:`audio.engine.separator.Engine.masks`, a fresh DeepFilterNet stream per case). Systems:

- ``spleeter``: Spleeter's vocals mask alone; ``deepfilternet``: DeepFilterNet3's alone;
- ``landed``: :func:`audio.engine.fusion.fuse` (the per-frame energy-ratio blend);
- ``learned``: :class:`audio.engine.fusion.LearnedFusion`, when a graph is given;
- ``oracle_frame``: the best per-frame blend w V + (1 - w) S, w in [0, 1], found with the true
  foreground (least squares per frame), the ceiling of any per-frame rule on these masks;
- ``irm``: the ideal ratio mask |F| / (|F| + |B|) per bin, the ceiling of masking.

Scores are SI-SDRi in dB (``../shared/audio/score.py``'s SI-SDR, gain over the mixture) of the
foreground and of the background (mixture minus foreground).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from audio.engine import spleeter
from audio.engine.fusion import LearnedFusion, Mode, fuse
from audio.engine.separator import MODEL_RATE, Engine

SHARED = Path(os.environ.get("STEMWEB_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


def _score_module():
    spec = importlib.util.spec_from_file_location("score", SHARED / "audio" / "score.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def oracle_frame_mask(vocals, speech, spec, fg_spec) -> np.ndarray:
    """The per-frame least-squares blend of the two masks against the true foreground."""
    a = (vocals - speech[None]) * spec
    b = speech[None] * spec - fg_spec
    w = -(a.conj() * b).real.sum(axis=(0, 1)) / ((np.abs(a) ** 2).sum(axis=(0, 1)) + 1e-12)
    w = np.clip(w, 0.0, 1.0)[None, None]
    return w * vocals + (1 - w) * speech[None]


def evaluate(
    cases: list[Path], engine: Engine, fusion: LearnedFusion | None, mode: Mode
) -> list[dict]:
    """One row per case: its name and each system's fg and bg SI-SDRi."""
    score = _score_module()
    rows = []
    for case in cases:
        mixture, rate = sf.read(case / "mixture.flac", dtype="float32", always_2d=True)
        fg, _ = sf.read(case / "foreground.flac", dtype="float32", always_2d=True)
        assert rate == MODEL_RATE
        dfn = engine._deepfilter()
        try:
            m = engine.masks(mixture, rate, dfn)
        finally:
            dfn.close()
        fg_spec = spleeter.stft(np.pad(fg, ((0, m.samples - len(fg)), (0, 0))).T)
        bg_spec = m.spec - fg_spec
        power = (np.abs(m.spec) ** 2).mean(axis=0)
        masks = {
            "spleeter": m.vocals,
            "deepfilternet": np.broadcast_to(m.speech, m.vocals.shape),
            "landed": fuse(m.vocals, m.speech, power, mode),
        }
        if fusion is not None:
            masks["learned"] = fusion.mask(m.vocals, m.speech, m.spec, mode)
        masks["oracle_frame"] = oracle_frame_mask(m.vocals, m.speech, m.spec, fg_spec)
        masks["irm"] = np.abs(fg_spec) / (np.abs(fg_spec) + np.abs(bg_spec) + 1e-12)
        base_fg = score.si_sdr(fg, mixture)
        base_bg = score.si_sdr(mixture - fg, mixture)
        row = {"case": case.name}
        for name, mask in masks.items():
            est = spleeter.istft(m.spec * mask, m.samples)[:, : m.frames].T
            row[name] = (
                score.si_sdr(fg, est) - base_fg,
                score.si_sdr(mixture - fg, mixture - est) - base_bg,
            )
        rows.append(row)
    return rows


def table(rows: list[dict], title: str) -> str:
    """A Markdown table: per case, then the mean, "fg / bg" in each cell."""
    systems = [k for k in rows[0] if k != "case"]
    lines = [
        f"### {title}",
        "",
        "| case | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]

    def cell(pair) -> str:
        fg, bg = pair
        return "n/a" if np.isnan(fg) else f"{fg:+.2f} / {bg:+.2f}"

    for row in rows:
        lines.append(f"| {row['case']} | " + " | ".join(cell(row[s]) for s in systems) + " |")
    # A mixture with no foreground has no foreground score, and its background is the mixture
    # itself (an infinite baseline): the means are over the cases that have a foreground.
    scored = [r for r in rows if not np.isnan(r[systems[0]][0])]
    means = []
    for s in systems:
        fg = np.mean([r[s][0] for r in scored])
        bg = np.mean([r[s][1] for r in scored])
        means.append(f"**{fg:+.2f} / {bg:+.2f}**")
    lines.append(f"| mean of {len(scored)} with a foreground | " + " | ".join(means) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--fusion", type=Path)
    parser.add_argument(
        "--models", type=Path, default=Path(os.environ.get("STEMWEB_MODEL_DIR", "var/models"))
    )
    parser.add_argument("--mode", choices=[m.value for m in Mode], default="foreground")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = sorted(p.parent for p in args.cases.glob("*/mixture.flac"))
    if args.limit:
        cases = cases[: args.limit]
    engine = Engine(args.models)
    fusion = LearnedFusion(str(args.fusion)) if args.fusion else None
    rows = evaluate(cases, engine, fusion, Mode(args.mode))
    print(table(rows, f"{args.cases} ({args.mode})"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
