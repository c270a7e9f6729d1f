"""CAMB.AI audio separation: foreground and background.

Wire format: ../shared/specs/PROVIDERS.md, "CAMB.AI" (seeds 000-002). Multipart
``POST /audio-separation`` with ``media_file``; poll ``GET /audio-separation/{task_id}`` until
SUCCESS (then ``GET /audio-separation-result/{run_id}``) or ERROR (``exception_reason``).
"""

from __future__ import annotations

import mimetypes

from providers.base import (
    Poll,
    PollState,
    ProviderError,
    Result,
    RunContext,
    Submission,
)
from providers.http import RemoteProvider
from providers.stemsets import StemSet


class CambProvider(RemoteProvider):
    key = "camb"
    label = "CAMB.AI"
    stem_sets = (StemSet.FOREGROUND_BACKGROUND,)
    containers = frozenset({"WAV", "FLAC", "MP3", "AAC", "M4A"})
    accepts = "AAC/M4A, FLAC, MP3 or WAV uploads"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    def submit(self, ctx: RunContext) -> Submission:
        project = ctx.job.project
        data: dict[str, str] = {}
        if len(project.name) >= 3:
            data["project_name"] = project.name[:255]
        if len(project.description) >= 3:
            data["project_description"] = project.description[:5000]
        folder = project.folder if project.folder_id else None  # no query at the root
        if folder is not None and folder.camb_folder_id is not None:
            data["folder_id"] = str(folder.camb_folder_id)
        source = ctx.source_path()
        content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        with open(source, "rb") as fh:
            body = self.call(
                ctx,
                "POST",
                "audio-separation",
                data=data,
                files={"media_file": (project.original_filename or source.name, fh, content_type)},
            )
        task_id = body.get("task_id")
        if not task_id:
            raise ProviderError(f"{self.label} answered without a task_id.", permanent=False)
        return Submission(task_id=str(task_id), done=False)

    def poll(self, ctx: RunContext) -> Poll:
        body = self.call(ctx, "GET", f"audio-separation/{ctx.job.provider_task_id}")
        status = str(body.get("status", "")).upper()
        if status == "SUCCESS":
            if body.get("run_id") is None:
                raise ProviderError(
                    f"{self.label} reported success without a run_id.", permanent=False
                )
            ctx.save_state(run_id=body["run_id"])
            return Poll(PollState.DONE)
        if status == "ERROR":
            reason = body.get("exception_reason") or body.get("message") or "no reason given"
            return Poll(PollState.FAILED, f"{self.label} could not separate this file: {reason}")
        if status == "TIMEOUT":
            return Poll(PollState.TIMED_OUT, f"{self.label} timed out on this file.")
        if status == "PAYMENT_REQUIRED":
            return Poll(
                PollState.FAILED,
                f"{self.label} needs payment (PAYMENT_REQUIRED): check the account's credits.",
            )
        return Poll(PollState.PENDING)

    def result(self, ctx: RunContext) -> Result:
        run_id = ctx.job.provider_state.get("run_id")
        body = self.call(ctx, "GET", f"audio-separation-result/{run_id}")
        foreground = body.get("foreground_audio_url")
        background = body.get("background_audio_url")
        if not foreground or not background:
            raise ProviderError(f"{self.label}'s result has no stem URLs.", permanent=True)
        return Result(stems={"foreground": foreground, "background": background})
