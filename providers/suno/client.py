"""Suno-style vocal removal of a track already on the platform: 2 or 12 stems.

Wire format: ../shared/specs/PROVIDERS.md, "Suno-style" (seed 004).
``POST /api/v1/vocal-removal/generate`` with ``taskId``, ``audioId``, ``type`` and
``callBackUrl``; the result normally arrives by callback (``jobs.views.hooks``, checked by
:meth:`SunoProvider.parse_callback`), and
``GET /api/v1/vocal-removal/record-info`` is the fallback poll. Errors come as a ``code`` in the
body (with or without a matching HTTP status).
"""

from __future__ import annotations

from typing import Any

from providers.base import (
    CallbackError,
    Poll,
    PollState,
    ProviderError,
    Result,
    RunContext,
    Submission,
)
from providers.http import RemoteProvider
from providers.stemsets import StemSet

TYPES = {StemSet.VOCALS_INSTRUMENTAL: "separate_vocal", StemSet.MULTI_12: "split_stem"}
# The provider's stem names (in ``<name>_url`` keys) to stemweb's.
STEM_KEYS = {
    "vocal": "vocals",
    "instrumental": "instrumental",
    "backing_vocals": "backing_vocals",
    "drums": "drums",
    "bass": "bass",
    "guitar": "guitar",
    "keyboard": "keyboard",
    "percussion": "percussion",
    "strings": "strings",
    "synth": "synth",
    "fx": "fx",
    "brass": "brass",
    "woodwinds": "woodwinds",
}
TRANSIENT_CODES = {429, 430, 455, 500, 502, 503}
FAILED_FLAGS = {"CREATE_TASK_FAILED", "GENERATE_AUDIO_FAILED", "CALLBACK_EXCEPTION"}


def callback_info(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The stem URLs of a callback payload: ``vocal_removal_info`` or ``vocal_separation_info``."""
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    info = data.get("vocal_removal_info") or data.get("vocal_separation_info")
    return info if isinstance(info, dict) else None


class SunoProvider(RemoteProvider):
    key = "suno"
    label = "Suno-style"
    stem_sets = tuple(TYPES)
    needs_upload = False
    accepts = "a track already on the platform: give its taskId and audioId, no file"

    def cost(self, *, duration_s: float | None, stem_set: str) -> tuple[float, str]:
        """Credits, per ../shared/specs/PROVIDERS.md: 10 for separate_vocal, 50 for split_stem."""
        return (50.0 if stem_set == StemSet.MULTI_12 else 10.0), "credits"

    def secrets(self, ctx: RunContext) -> list[str]:
        return [ctx.job.callback_token]  # it is part of the callBackUrl we send

    def _checked(self, body: dict[str, Any]) -> dict[str, Any]:
        code = body.get("code", 200)
        if code == 200:
            return body
        message = body.get("msg") or "no reason given"
        if code == 401:
            raise ProviderError(
                f"{self.label} refused the API key (401): check the key in the settings.",
                permanent=True,
            )
        raise ProviderError(
            f"{self.label} answered code {code}: {message}", permanent=code not in TRANSIENT_CODES
        )

    def parse_callback(self, payload: Any, task_id: str) -> int:
        """``{code, msg, data}`` with a status code (an integer from 100 to 999) and a data
        object whose ``task_id``, when present, is this job's (../shared/specs/PROVIDERS.md,
        Suno-style callbacks)."""
        data = payload.get("data") if isinstance(payload, dict) else None
        code = payload.get("code") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or type(code) is not int:
            raise CallbackError("expected {code, msg, data}")
        if not 100 <= code <= 999:
            raise CallbackError(f"code {code} is not a status code")
        if task_id and data.get("task_id") not in (None, task_id):
            raise CallbackError("task_id does not match this job")
        return code

    def submit(self, ctx: RunContext) -> Submission:
        job, project = ctx.job, ctx.job.project
        payload = {
            "taskId": project.platform_task_id,
            "audioId": project.platform_audio_id,
            "type": TYPES[StemSet(job.stem_set)],
            "callBackUrl": ctx.callback_url,
        }
        body = self._checked(self.call(ctx, "POST", "api/v1/vocal-removal/generate", json=payload))
        task_id = (body.get("data") or {}).get("taskId")
        if not task_id:
            raise ProviderError(f"{self.label} answered without a taskId.", permanent=False)
        return Submission(task_id=str(task_id), done=False)

    def poll(self, ctx: RunContext) -> Poll:
        payload = ctx.job.callback_payload
        if payload:  # the callback came: it decides
            if payload.get("code") == 200 and callback_info(payload):
                return Poll(PollState.DONE)
            return Poll(
                PollState.FAILED, f"{self.label} failed: {payload.get('msg') or 'no reason given'}"
            )
        body = self._checked(
            self.call(
                ctx,
                "GET",
                "api/v1/vocal-removal/record-info",
                params={"taskId": ctx.job.provider_task_id},
            )
        )
        data = body.get("data") or {}
        flag = data.get("successFlag")
        if flag == "SUCCESS" and isinstance(data.get("response"), dict):
            ctx.save_state(response=data["response"])
            return Poll(PollState.DONE)
        if flag in FAILED_FLAGS:
            reason = data.get("errorMessage") or flag
            return Poll(PollState.FAILED, f"{self.label} failed: {reason}")
        return Poll(PollState.PENDING)

    def result(self, ctx: RunContext) -> Result:
        stems: dict[str, str] = {}
        if ctx.job.callback_payload and (info := callback_info(ctx.job.callback_payload)):
            urls = {key.removesuffix("_url"): url for key, url in info.items() if url}
        else:  # record-info: camelCase keys
            response = ctx.job.provider_state.get("response", {})
            urls = {_snake(key).removesuffix("_url"): url for key, url in response.items() if url}
        for their_name, our_name in STEM_KEYS.items():
            if urls.get(their_name):
                stems[our_name] = urls[their_name]
        return Result(stems=stems, origin=urls.get("origin"))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
