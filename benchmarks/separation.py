#!/usr/bin/env python
"""Local engine benchmark: quality on ../shared/audio/dev, speed and peak memory.

Prints
- per case and on average: foreground and background SI-SDR and SI-SDRi (dB), scored by
  ../shared/audio/score.py --suite (Le Roux et al. 2019 SI-SDR; SI-SDRi = gain over returning
  the mixture unchanged);
- speed: real-time factor (seconds of audio per second of wall time) on one core, for the dev
  suite and for a synthetic 3-minute and 10-minute 44.1 kHz stereo file (decode + separate +
  FLAC encode, as a job does it);
- peak memory (max RSS, MB) of a separate process that splits the 10-minute file.

Run: make bench   (or .venv/bin/python benchmarks/separation.py [--skip-long])
Targets (issue 2): fg SI-SDRi >= +3 dB, bg SI-SDRi >= 0 dB, >= 10x real time on one core,
peak memory < 600 MB for 10 minutes of 44.1 kHz stereo.
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

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("STEMWEB_SHARED_DIR", ROOT.parent / "shared"))

from jobs.audio import probe  # noqa: E402
from jobs.engine import separate_file  # noqa: E402


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def separate_timed(source: Path, out_dir: Path) -> tuple[float, float]:
    """(seconds of audio, seconds of wall time) to split ``source`` into ``out_dir``."""
    started = time.perf_counter()
    info = probe(source)
    separate_file(source, info, out_dir)
    return info.duration_s, time.perf_counter() - started


def quality(workdir: Path) -> tuple[float, float]:
    dev = SHARED / "audio" / "dev"
    audio_s = wall_s = 0.0
    for case in sorted(p for p in dev.iterdir() if p.is_dir()):
        seconds, wall = separate_timed(case / "mixture.flac", workdir / case.name)
        audio_s += seconds
        wall_s += wall
    scored = subprocess.run(
        [
            sys.executable,
            str(SHARED / "audio" / "score.py"),
            "--suite",
            str(dev),
            "--estimates",
            str(workdir),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(scored.stdout)["results"]
    print("| case | fg SI-SDR | fg SI-SDRi | bg SI-SDR | bg SI-SDRi |")
    print("|---|---|---|---|---|")
    fg_i, bg_i = [], []
    for r in results:
        fg, bg = r["stems"]["foreground"], r["stems"]["background"]
        fg_i.append(fg["si_sdri_db"])
        bg_i.append(bg["si_sdri_db"])
        print(
            f"| {r['case']} | {fg['si_sdr_db']:+.2f} | {fg['si_sdri_db']:+.2f} | "
            f"{bg['si_sdr_db']:+.2f} | {bg['si_sdri_db']:+.2f} |"
        )
    print(f"| **mean** | | **{np.mean(fg_i):+.2f}** | | **{np.mean(bg_i):+.2f}** |")
    print(
        f"\ndev suite speed: {audio_s:.0f} s of audio in {wall_s:.2f} s = "
        f"{audio_s / wall_s:.1f}x real time (one core)"
    )
    return float(np.mean(fg_i)), float(np.mean(bg_i))


def synthetic_song(path: Path, minutes: float) -> None:
    """A long 44.1 kHz stereo file built from the dev mixtures, written block by block."""
    sources = sorted((SHARED / "audio" / "dev").glob("*/mixture.flac"))
    frames_needed = round(minutes * 60 * 44100)
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as out:
        written, i = 0, 0
        while written < frames_needed:
            block, _ = sf.read(sources[i % len(sources)], dtype="float32")
            block = block[: frames_needed - written]
            out.write(block)
            written += len(block)
            i += 1


def peak_memory_mb(source: Path, out_dir: Path) -> float:
    """Max RSS (MB) of ``manage.py separate`` splitting ``source``, as a child process.

    RUSAGE_CHILDREN reports the largest child so far; the scorer's children only ever load
    20 s files, far below the separating process.
    """
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "separate", str(source), "--out", str(out_dir)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ONE_CORE},
    )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-long", action="store_true", help="skip the 3- and 10-minute runs")
    args = parser.parse_args()
    pin_to_one_core()
    with tempfile.TemporaryDirectory(prefix="stemweb-bench-") as tmp:
        workdir = Path(tmp)
        print("## Local engine on ../shared/audio/dev (SI-SDR in dB)\n")
        quality(workdir / "dev")
        if args.skip_long:
            return
        print("\n## Long files (44.1 kHz stereo, one core)\n")
        for minutes in (3, 10):
            song = workdir / f"song_{minutes}min.wav"
            synthetic_song(song, minutes)
            seconds, wall = separate_timed(song, workdir / f"out_{minutes}")
            print(f"{minutes:>2} min: separated in {wall:.1f} s = {seconds / wall:.1f}x real time")
        peak = peak_memory_mb(workdir / "song_10min.wav", workdir / "mem")
        print(f"10 min: peak memory of `manage.py separate` (max RSS) {peak:.0f} MB")


if __name__ == "__main__":
    main()
