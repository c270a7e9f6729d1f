"""The built-in local engine as a provider: separates on the worker, no network, no API key."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from audio.engine.deepfilter import DeepFilterError
from audio.engine.fusion import Mode
from audio.engine.modelfiles import ModelFilesError
from audio.engine.separator import Engine, separate_file
from providers.base import (
    Poll,
    PollState,
    Provider,
    ProviderError,
    Result,
    RunContext,
    Submission,
)
from providers.stemsets import StemSet

MODES = {StemSet.FOREGROUND_BACKGROUND: Mode.FOREGROUND, StemSet.VOCALS_INSTRUMENTAL: Mode.VOCALS}


def load_engine() -> Engine:
    """The engine with this site's model directory and thread count.

    Raises:
        ProviderError: (permanent) a model file is missing or altered, or will not load; the
            message says which and how to fix it.
    """
    try:
        return Engine(Path(settings.STEMWEB_MODEL_DIR), threads=settings.STEMWEB_ENGINE_THREADS)
    except (ModelFilesError, DeepFilterError) as exc:
        raise ProviderError(f"The local engine cannot start: {exc}", permanent=True) from None


class LocalProvider(Provider):
    key = "local"
    label = "Local engine"
    cpu_bound = True
    resumable = False
    stem_sets = tuple(MODES)
    accepts = "WAV, FLAC, MP3, AAC/M4A or OGG uploads; runs on this server, no API key"
    needs_api_key = False

    def submit(self, ctx: RunContext) -> Submission:
        info = ctx.job.project.audio_info()
        last = 0.0

        def throttled(fraction: float) -> None:
            nonlocal last
            if fraction >= 1.0 or time.monotonic() - last >= 1.0:
                last = time.monotonic()
                ctx.progress(fraction)

        source = ctx.source_path()
        started = time.monotonic()
        engine = load_engine()
        loaded = time.monotonic()
        separate_file(
            engine,
            source,
            info,
            ctx.workdir,
            mode=MODES[StemSet(ctx.job.stem_set)],
            stem_names=ctx.job.stem_names,
            on_progress=throttled,
        )
        done = time.monotonic()
        ctx.record_provenance(engine.provenance)
        # The engine's own time, for staff beside the remote providers' requests (and for
        # benchmarks/throughput.py, which subtracts it from the job's wall time).
        ctx.record_event(
            kind="note",
            duration_ms=round((done - started) * 1000),
            excerpt=(
                f"Local engine: {info.duration_s:.1f} s of audio separated in "
                f"{done - loaded:.2f} s; models loaded in {loaded - started:.2f} s."
            ),
        )
        return Submission(task_id=f"local-{ctx.job.pk}", done=True)

    def poll(self, ctx: RunContext) -> Poll:
        return Poll(PollState.DONE)  # submit() does the whole separation before it returns

    def result(self, ctx: RunContext) -> Result:
        return Result({name: ctx.workdir / f"{name}.flac" for name in ctx.job.stem_names})
