"""CAMB.AI audio separation: foreground and background.

Wire format: ../shared/specs/PROVIDERS.md, "CAMB.AI" (seeds 000-002). Multipart
``POST /audio-separation`` with ``media_file``; poll ``GET /audio-separation/{task_id}`` until
SUCCESS (then ``GET /audio-separation-result/{run_id}``) or ERROR (``exception_reason``).
"""

from __future__ import annotations

import mimetypes

from jobs.models import StemSet
from jobs.providers.base import (
    Poll,
    PollState,
    Provider,
    ProviderError,
    Result,
    RunContext,
    Submission,
)
from jobs.providers.http import ProviderHTTP


class CambProvider(Provider):
    key = "camb"
    label = "CAMB.AI"
    stem_sets = (StemSet.FOREGROUND_BACKGROUND,)
    containers = frozenset({"WAV", "FLAC", "MP3", "AAC", "M4A"})
    accepts = "AAC/M4A, FLAC, MP3 or WAV uploads"

    def _http(self, ctx: RunContext) -> ProviderHTTP:
        key = self.config["api_key"]
        return ProviderHTTP(
            ctx.job,
            label=self.label,
            base_url=self.config["base_url"],
            headers={"x-api-key": key},
            secrets=[key],
        )

    def submit(self, ctx: RunContext) -> Submission:
        project = ctx.job.project
        data: dict[str, str] = {}
        if len(project.name) >= 3:
            data["project_name"] = project.name[:255]
        if len(project.description) >= 3:
            data["project_description"] = project.description[:5000]
        if project.folder_id and project.folder.camb_folder_id is not None:
            data["folder_id"] = str(project.folder.camb_folder_id)
        source = ctx.source_path()
        content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        http = self._http(ctx)
        try:
            with open(source, "rb") as fh:
                response = http.request(
                    "POST",
                    "audio-separation",
                    data=data,
                    files={
                        "media_file": (project.original_filename or source.name, fh, content_type)
                    },
                )
            task_id = http.json(response).get("task_id")
        finally:
            http.close()
        if not task_id:
            raise ProviderError(f"{self.label} answered without a task_id.", permanent=False)
        return Submission(task_id=str(task_id), done=False)

    def poll(self, ctx: RunContext) -> Poll:
        http = self._http(ctx)
        try:
            body = http.json(http.request("GET", f"audio-separation/{ctx.job.provider_task_id}"))
        finally:
            http.close()
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
        http = self._http(ctx)
        try:
            body = http.json(http.request("GET", f"audio-separation-result/{run_id}"))
        finally:
            http.close()
        urls = {
            "foreground": body.get("foreground_audio_url"),
            "background": body.get("background_audio_url"),
        }
        if not all(urls.values()):
            raise ProviderError(f"{self.label}'s result has no stem URLs.", permanent=True)
        return Result(stems=urls)
