"""The built-in local engine as a provider: separates on the worker, no network, no API key."""

from __future__ import annotations

import time

from jobs.engine import separate_file
from jobs.models import StemSet
from jobs.providers.base import Poll, PollState, Provider, Result, RunContext, Submission


class LocalProvider(Provider):
    key = "local"
    label = "Local engine"
    queue = "local"
    stem_sets = (StemSet.FOREGROUND_BACKGROUND, StemSet.VOCALS_INSTRUMENTAL)
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

        separate_file(ctx.source_path(), info, ctx.workdir, ctx.job.stem_names, throttled)
        return Submission(task_id=f"local-{ctx.job.pk}", done=True)

    def poll(self, ctx: RunContext) -> Poll:
        return Poll(PollState.DONE)  # submit() does the whole separation before it returns

    def result(self, ctx: RunContext) -> Result:
        return Result({name: ctx.workdir / f"{name}.flac" for name in ctx.job.stem_names})
