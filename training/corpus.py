"""Build the corpus: mixtures of packaged speech and singing over packaged music.

    python -m training.corpus --out var/training/corpus [--hours 3.2] [--seed 0]

Every mixture is ``--seconds`` long (12 s by default). Its foreground is one or more clips of
one source's recordings (speech lines are short, so several follow one another with pauses),
its background one excerpt of one music recording, and :func:`training.mix.draw` decides the
rest. Recordings are split between train and validation by :mod:`training.split`, and a
mixture takes all its recordings from its own side. Written:

- ``<out>/validation/<id>/{mixture,foreground,background}.flac`` (44.1 kHz stereo, 24-bit; the
  layout of ``../shared/audio/dev``, so ``score.py --suite`` reads it);
- ``<out>/train/<id>/`` likewise;
- ``<out>/corpus.json``: each mixture's side, seed, recordings and recipe, the sources with
  their licences, and minutes by kind and side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from audio.engine.separator import resample
from training.mix import RATE, draw, render
from training.sources import Recording, load_manifest, recordings, unpack
from training.split import shared_keys, side

FOREGROUND_SHARE = {"speech": 0.62, "singing": 0.28, "synth_speech": 0.10}
MIN_SECONDS = 1.0  # shorter files (clicks, blips) are not recordings worth mixing


def _decode_av(path: Path) -> np.ndarray:
    """(frames, 2) float32 at :data:`RATE`, decoded and converted by PyAV (FFmpeg)."""
    chunks = []
    with av.open(str(path)) as container:
        convert = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        for frame in container.decode(audio=0):
            chunks.extend(c.to_ndarray().reshape(-1, 2) for c in convert.resample(frame))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.float32)


def decode(path: Path) -> np.ndarray:
    """(frames, channels <= 2) float32 at :data:`RATE`, by soundfile, else PyAV."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return _decode_av(path)
    return resample(audio[:, :2], rate, RATE)


class Library:
    """Decoded recordings, cached on disk as float16 .npy (decoding Vorbis is the slow part)."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache / "decoded"
        self.cache.mkdir(parents=True, exist_ok=True)

    def audio(self, recording: Recording) -> np.ndarray:
        digest = hashlib.sha256(recording.key.encode()).hexdigest()[:24]
        path = self.cache / f"{digest}.npy"
        if path.exists():
            return np.load(path).astype(np.float32)
        audio = decode(recording.path)
        np.save(path, audio.astype(np.float16))
        return audio


def _foreground(
    rng: np.random.Generator, library: Library, pool: list[Recording], seconds: float
) -> tuple[np.ndarray, list[dict]]:
    """Clips of one source's recordings, one after another with pauses, ``seconds`` long."""
    source = pool[int(rng.integers(len(pool)))].source
    own = [r for r in pool if r.source is source]
    frames = int(seconds * RATE)
    track = np.zeros((frames, 2), np.float32)
    at, used = int(rng.uniform(0.0, 0.5) * RATE), []
    while at < frames - RATE // 2:
        recording = own[int(rng.integers(len(own)))]
        audio = library.audio(recording)
        if audio.shape[1] == 1:
            audio = np.repeat(audio, 2, axis=1)
        start = int(rng.integers(0, max(1, len(audio) - (frames - at))))
        clip = audio[start : start + frames - at]
        track[at : at + len(clip)] = clip
        used.append(
            {
                "recording": recording.key,
                "from_s": start / RATE,
                "at_s": at / RATE,
                "seconds": len(clip) / RATE,
            }
        )
        at += len(clip) + int(rng.uniform(0.1, 0.8) * RATE)
    return track, used


def build(
    out: Path, cache: Path, hours: float, seconds: float, seed: int, min_validation: int = 48
) -> dict:
    """Write the corpus (module docstring) and return its manifest."""
    sources = load_manifest()
    pools: dict[tuple[str, str], list[Recording]] = defaultdict(list)
    minutes: dict[str, float] = defaultdict(float)
    library = Library(cache)
    for source in sources:
        for recording in recordings(source, unpack(source, cache)):
            length = len(library.audio(recording)) / RATE
            if length < MIN_SECONDS:
                continue
            where = side(recording.split_key)
            pools[(source.kind, where)].append(recording)
            minutes[f"{source.kind}/{where}"] += length / 60
    keys = {
        w: [r.split_key for (k, s), rs in pools.items() if s == w for r in rs]
        for w in ("train", "validation")
    }
    assert not shared_keys(keys["train"], keys["validation"])

    total = round(hours * 3600 / seconds)
    n_validation = max(min_validation, int(0.12 * total))
    kinds = [k for k in FOREGROUND_SHARE if pools[(k, "train")] and pools[(k, "validation")]]
    shares = np.array([FOREGROUND_SHARE[k] for k in kinds])
    shares /= shares.sum()
    mixtures = []
    for index in range(total):
        where = "validation" if index < n_validation else "train"
        rng = np.random.default_rng([seed, index])
        kind = kinds[int(rng.choice(len(kinds), p=shares))]
        fg, clips = _foreground(rng, library, pools[(kind, where)], seconds)
        music = pools[("music", where)]
        bg_recording = music[int(rng.integers(len(music)))]
        bg = library.audio(bg_recording)
        recipe = draw(rng, seconds, seconds, len(bg) / RATE, spoken=kind != "singing")
        recipe = type(recipe)(**{**asdict(recipe), "fg_offset_s": 0.0})
        mixture, foreground, background = render(recipe, fg, bg, seed=index)
        name = f"{where[:3]}{index:05d}_{kind}"
        folder = out / where / name
        folder.mkdir(parents=True, exist_ok=True)
        for stem, audio in (
            ("mixture", mixture),
            ("foreground", foreground),
            ("background", background),
        ):
            sf.write(folder / f"{stem}.flac", audio, RATE, subtype="PCM_24")
        mixtures.append(
            {
                "id": name,
                "side": where,
                "kind": kind,
                "seed": [seed, index],
                "foreground": clips,
                "background": bg_recording.key,
                "recipe": asdict(recipe),
            }
        )
    manifest = {
        "seconds_per_mixture": seconds,
        "mixtures": mixtures,
        "minutes_by_kind_and_side": {k: round(v, 1) for k, v in sorted(minutes.items())},
        "recordings": {w: len(v) for w, v in keys.items()},
        "sources": [asdict(s) for s in sources],
    }
    (out / "corpus.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/training/corpus"))
    parser.add_argument("--cache", type=Path, default=Path("var/training/cache"))
    parser.add_argument("--hours", type=float, default=3.2)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = build(args.out, args.cache, args.hours, args.seconds, args.seed)
    print(json.dumps({k: manifest[k] for k in ("minutes_by_kind_and_side", "recordings")}))


if __name__ == "__main__":
    main()
