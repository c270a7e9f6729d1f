#!/usr/bin/env python
"""Local engine benchmark: the neural engine beside the DSP baseline, in one run.

Prints
- quality on ../shared/audio/dev, per case and on average: foreground and background SI-SDRi
  (dB) of the DSP baseline (benchmarks/dsp_baseline.py), of the neural engine's
  foreground/background fusion, and of its vocals/instrumental fusion, all scored by
  ../shared/audio/score.py --suite (SI-SDR: Le Roux et al. 2019; SI-SDRi = gain over
  returning the mixture unchanged);
- speed: real-time factor (seconds of audio per second of wall time) on one core, for a
  3-minute and a 10-minute 44.1 kHz stereo file built from the dev mixtures, each engine in a
  fresh process with model loading, decoding and the FLAC encode included, as a job does it;
- peak memory: max RSS of those processes (MB).

Run: make bench   (or .venv/bin/python benchmarks/separation.py [--skip-long])
Targets (issue 9): mean fg SI-SDRi >= +12.5 dB, bg >= +6.5 dB, no case below +6 dB fg;
>= 8x real time on one core for 3 minutes; peak RSS < 1 GB for 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(ONE_CORE)  # before numpy loads
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stemweb.settings")

import django  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
django.setup()

from recordings import DEV, SHARED  # noqa: E402

from audio.engine.fusion import Mode  # noqa: E402
from audio.engine.separator import separate_file  # noqa: E402
from audio.probe import probe  # noqa: E402
from benchmarks import dsp_baseline  # noqa: E402
from providers.local.client import load_engine  # noqa: E402


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def separate(engine: str, source: Path, out_dir: Path, mode: Mode = Mode.FOREGROUND) -> None:
    """Split ``source`` the way a job does: decode, separate, write two FLAC stems."""
    chosen = dsp_baseline.DspEngine() if engine == "dsp" else load_engine()
    separate_file(chosen, source, probe(source), out_dir, mode=mode)


def score(estimates: Path) -> dict[str, tuple[float, float]]:
    """{case: (fg SI-SDRi, bg SI-SDRi)} from score.py --suite."""
    done = subprocess.run(
        [sys.executable, str(SHARED / "audio" / "score.py"), "--suite",
         str(DEV), "--estimates", str(estimates), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {
        r["case"]: (r["stems"]["foreground"]["si_sdri_db"], r["stems"]["background"]["si_sdri_db"])
        for r in json.loads(done.stdout)["results"]
    }


def quality(workdir: Path) -> None:
    cases = sorted(p for p in DEV.iterdir() if p.is_dir())
    runs = {"dsp": ("dsp", Mode.FOREGROUND), "fg/bg": ("neural", Mode.FOREGROUND),
            "vocals": ("neural", Mode.VOCALS)}  # fmt: skip
    scores, speed = {}, {}
    for label, (engine, mode) in runs.items():
        audio_s = wall_s = 0.0
        for case in cases:
            started = time.perf_counter()
            separate(engine, case / "mixture.flac", workdir / label / case.name, mode)
            wall_s += time.perf_counter() - started
            audio_s += probe(case / "mixture.flac").duration_s
        scores[label] = score(workdir / label)
        speed[label] = audio_s / wall_s
    print("| case | DSP fg | DSP bg | neural fg | neural bg | vocals-first fg | vocals-first bg |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        cells = " | ".join(f"{v:+.2f}" for label in runs for v in scores[label][case.name])
        print(f"| {case.name} | {cells} |")
    means = " | ".join(
        f"**{np.mean([s[i] for s in scores[label].values()]):+.2f}**"
        for label in runs
        for i in (0, 1)
    )
    print(f"| **mean** | {means} |")
    lowest = min(fg for fg, _ in scores["fg/bg"].values())
    print(f"\nlowest neural foreground SI-SDRi: {lowest:+.2f} dB")
    print(
        "dev suite speed (one core, model loading per file included): "
        + ", ".join(f"{label} {rtf:.1f}x" for label, rtf in speed.items())
    )


def synthetic_song(path: Path, minutes: float) -> None:
    """A long 44.1 kHz stereo file built from the dev mixtures, written block by block."""
    sources = sorted(DEV.glob("*/mixture.flac"))
    frames_needed = round(minutes * 60 * 44100)
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as out:
        written, i = 0, 0
        while written < frames_needed:
            block, _ = sf.read(sources[i % len(sources)], dtype="float32")
            block = block[: frames_needed - written]
            out.write(block)
            written += len(block)
            i += 1


def in_child(engine: str, source: Path, out_dir: Path, threads: int = 1) -> dict[str, float]:
    """Run one separation in a fresh process: {"wall_s", "peak_rss_mb"} (loading included).

    One thread runs pinned to one core; more threads get ``STEMWEB_ENGINE_THREADS`` and every
    core this process may use.
    """
    env = {**os.environ, **ONE_CORE, "STEMWEB_ENGINE_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, str(source), str(out_dir)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(engine: str, source: Path, out_dir: Path) -> None:
    started = time.perf_counter()
    separate(engine, source, out_dir)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak}))


def long_files(workdir: Path) -> None:
    print("| file | engine | threads | wall time | real-time factor | peak RSS |")
    print("|---|---|---|---|---|---|")
    runs = [(3, "dsp", 1), (3, "neural", 1), (3, "neural", 2), (10, "dsp", 1), (10, "neural", 1)]
    for minutes, engine, threads in runs:
        song = workdir / f"song_{minutes}min.wav"
        if not song.exists():
            synthetic_song(song, minutes)
        got = in_child(engine, song, workdir / f"{engine}_{minutes}_{threads}", threads)
        print(
            f"| {minutes} min | {engine} | {threads} | {got['wall_s']:.1f} s | "
            f"{minutes * 60 / got['wall_s']:.1f}x | {got['peak_rss_mb']:.0f} MB |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-long", action="store_true", help="skip the 3- and 10-minute runs")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "SOURCE", "OUT"), help="internal")
    args = parser.parse_args()
    if not args.child or os.environ.get("STEMWEB_ENGINE_THREADS", "1") == "1":
        pin_to_one_core()
    elif hasattr(os, "sched_setaffinity"):  # a multi-thread child: undo the parent's pinning
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    if args.child:
        engine, source, out = args.child
        child(engine, Path(source), Path(out))
        return
    with tempfile.TemporaryDirectory(prefix="stemweb-bench-") as tmp:
        workdir = Path(tmp)
        print("## Quality on ../shared/audio/dev (SI-SDRi in dB)\n")
        quality(workdir / "dev")
        if args.skip_long:
            return
        print("\n## Long files (44.1 kHz stereo, one core, fresh process each)\n")
        long_files(workdir)


if __name__ == "__main__":
    main()
