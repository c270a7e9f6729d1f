"""The built-in local engine as a provider: separates on the worker, no network, no API key."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from jobs import engine
from jobs.audio import AudioInfo, read_blocks
from jobs.models import StemSet
from jobs.providers.base import Provider, RunContext, StemFile, Submission

# float -> 24-bit PCM: the largest positive value that does not wrap around.
_PCM24_MAX = 1.0 - 2.0**-23


def separate_file(
    source: Path,
    info: AudioInfo,
    out_dir: Path,
    stem_names: Sequence[str] = ("foreground", "background"),
    on_progress: Callable[[float], None] | None = None,
) -> list[Path]:
    """Split ``source`` into two FLAC stems (24-bit, the source's rate and channels).

    Streams: holds one engine segment in memory, whatever the duration.

    Args:
        stem_names: file names for the foreground and the background estimate, in that order.
        on_progress: called with the fraction (0..1) done after each segment.
    Returns:
        The two paths written: ``out_dir/<name>.flac`` for each name.
    """
    fg_name, bg_name = stem_names
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{fg_name}.flac", out_dir / f"{bg_name}.flac"]

    def on_frames(done: int) -> None:
        if on_progress:
            on_progress(done / info.frames)

    opts = {"samplerate": info.sample_rate, "channels": info.channels, "subtype": "PCM_24"}
    with (
        sf.SoundFile(paths[0], "w", **opts) as fg_out,
        sf.SoundFile(paths[1], "w", **opts) as bg_out,
    ):
        blocks = read_blocks(source, info)
        for fg, bg in engine.separate_stream(blocks, info.sample_rate, on_frames=on_frames):
            fg_out.write(np.clip(fg, -1.0, _PCM24_MAX))
            bg_out.write(np.clip(bg, -1.0, _PCM24_MAX))
    return paths


class LocalProvider(Provider):
    key = "local"
    label = "Local engine"
    queue = "local"
    stem_sets = (StemSet.FOREGROUND_BACKGROUND, StemSet.VOCALS_INSTRUMENTAL)
    accepts = "WAV, FLAC, MP3, AAC/M4A, OGG; runs on this server, no API key"

    def submit(self, ctx: RunContext) -> Submission:
        info = ctx.job.project.audio_info()
        last = 0.0

        def throttled(fraction: float) -> None:
            nonlocal last
            if fraction >= 1.0 or time.monotonic() - last >= 1.0:
                last = time.monotonic()
                ctx.progress(fraction)

        separate_file(ctx.source, info, ctx.workdir, ctx.job.stem_names, throttled)
        return Submission(task_id=f"local-{ctx.job.pk}", done=True)

    def poll(self, ctx: RunContext) -> bool:
        return True  # submit() does the whole separation before it returns

    def result(self, ctx: RunContext) -> list[StemFile]:
        return [StemFile(name, ctx.workdir / f"{name}.flac") for name in ctx.job.stem_names]
