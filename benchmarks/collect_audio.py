#!/usr/bin/env python
"""Collecting a job's stems, the audio work only: the decode check, the measurements (loudness,
peaks) and the residual against the source, the way collection did it before and the way it
does it now, in one run.

For each 20 s dev mixture (``../shared/audio/dev``, FLAC, 44.1 kHz stereo), the sandbox's
splitter (``providers/sandboxing/stems.py`` ``split``) makes a 2-stem and a 6-stem set (the
local engine, then frequency bands), as a provider would hand them back. Each set is then
collected ``--rounds`` times, the two ways alternating in each round:

- before: ``probe`` on each stem (a whole decode), ``analyze_stem`` on each (a second), then the
  residual against the source read with its stored facts (a third decode of every stem, and one
  of the source); that residual is kept below, as it was, for this comparison only;
- now: ``audio.analysis.measure_stems``, one pass decoding each stem and the source once.

Both must give the same facts, measurements and residual (checked on every set). It prints the
median time per set and way, and the ratio, in milliseconds of one process's wall time (the
library calls run on one core; nothing else is timed: no storage, no database).

Run: .venv/bin/python benchmarks/collect_audio.py [--rounds 5] [--cases 6]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from recordings import DEV

from audio.analysis import MeasuredStem, analyze_stem, measure_stems
from audio.probe import AudioInfo, probe, read_blocks
from providers.sandboxing.stems import split
from providers.stemsets import StemSet

SETS = {"2 stems": StemSet.FOREGROUND_BACKGROUND, "6 stems": StemSet.MULTI}


def _residual_db_before(mixture: Path, mixture_info: AudioInfo, stems: list[Path]) -> float | None:
    """The residual as collection measured it before ``measure_stems``: every stem read again."""
    readers = [sf.SoundFile(str(p)) for p in stems]
    try:
        if any(
            r.samplerate != mixture_info.sample_rate or r.channels != mixture_info.channels
            for r in readers
        ):
            return None
        signal = error = 0.0
        for block in read_blocks(mixture, mixture_info):
            total = np.zeros_like(block, dtype=np.float64)
            for reader in readers:
                part = reader.read(len(block), dtype="float64", always_2d=True)
                total[: len(part)] += part
            signal += float(np.sum(block.astype(np.float64) ** 2))
            error += float(np.sum((block - total) ** 2))
        if signal == 0:
            return None
        return round(10 * math.log10(max(error, 1e-30) / signal), 2)
    finally:
        for reader in readers:
            reader.close()


def before(
    stems: dict[str, Path], mixture: Path, facts: AudioInfo
) -> tuple[dict[str, MeasuredStem], float | None]:
    infos = {name: probe(path) for name, path in stems.items()}
    measured = {
        name: MeasuredStem(infos[name], analyze_stem(p, infos[name])) for name, p in stems.items()
    }
    return measured, _residual_db_before(mixture, facts, list(stems.values()))


def now(
    stems: dict[str, Path], mixture: Path, facts: AudioInfo
) -> tuple[dict[str, MeasuredStem], float | None]:
    measurement = measure_stems(stems, mixture)
    return measurement.stems, measurement.residual_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", type=int, default=6, help="how many dev mixtures (1-6)")
    args = parser.parse_args()
    cases = sorted(p for p in DEV.iterdir() if p.is_dir())[: args.cases]
    timings: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="stemweb-bench-collect-") as tmp:
        for case in cases:
            mixture = case / "mixture.flac"
            facts = probe(mixture)  # the project's stored facts, found at upload
            for label, stem_set in SETS.items():
                stems = split(mixture, stem_set.stem_names, Path(tmp) / case.name / stem_set.value)
                results = {}
                for _ in range(args.rounds):
                    for way, collect in (("before", before), ("now", now)):
                        started = time.perf_counter()
                        results[way] = collect(stems, mixture, facts)
                        timings.setdefault((label, way), []).append(time.perf_counter() - started)
                if results["before"] != results["now"]:
                    sys.exit(f"{case.name}, {label}: the two ways disagree: {results}")
                print(f"{case.name:42} {label}: residual {results['now'][1]} dB, same both ways")
    print(f"\n{len(cases)} mixtures of 20 s, {args.rounds} rounds; median per job:\n")
    print("| stems | before (probe + analyze_stem + residual) | now (measure_stems) | ratio |")
    print("|---|---|---|---|")
    for label in SETS:
        was = statistics.median(timings[label, "before"]) * 1000
        is_ = statistics.median(timings[label, "now"]) * 1000
        print(f"| {label} | {was:.0f} ms | {is_:.0f} ms | {was / is_:.2f}x |")


if __name__ == "__main__":
    main()
