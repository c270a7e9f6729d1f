"""FineVoice audio separation: vocals/instrumental, six stems, or dry/reverb.

Wire format: ../shared/specs/PROVIDERS.md, "FineVoice" (seed 003). ``POST /v1/audio/separation``
with ``sourceUrl`` (a signed, expiring link to the stored source), ``model`` and ``useAsync``;
poll ``GET /v1/task/{task_id}``; stems in ``url``/``urls``, in the model's stem order. Both the
current shape (``status`` 200/202, ``taskId``) and the older one (``status``
pending/processing/completed/failed, ``task_id``) are accepted.
"""

from __future__ import annotations

from typing import Any

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

MODELS = {
    StemSet.VOCALS_INSTRUMENTAL: "vocal-remover",
    StemSet.MULTI: "htdemucs_6s-4",
    StemSet.DRY_REVERB: "reverb",
}
_DONE, _PENDING = {"200", "completed", "success"}, {"202", "pending", "processing", "queued"}


class FineVoiceProvider(RemoteProvider):
    key = "finevoice"
    label = "FineVoice"
    stem_sets = tuple(MODELS)
    accepts = "any upload; FineVoice fetches it from a signed, expiring link"

    def submit(self, ctx: RunContext) -> Submission:
        payload = {
            "sourceUrl": ctx.source_url(),
            "model": MODELS[StemSet(ctx.job.stem_set)],
            "useAsync": True,
        }
        body = self.call(ctx, "POST", "v1/audio/separation", json=payload)
        task_id = body.get("taskId") or body.get("task_id")
        state = self._state(body)
        if state is PollState.FAILED:
            raise ProviderError(self._reason(body), permanent=True)
        if state is PollState.DONE:
            ctx.save_state(urls=self._urls(body))
        elif not task_id:
            raise ProviderError(f"{self.label} answered without a taskId.", permanent=False)
        return Submission(task_id=str(task_id or "sync"), done=state is PollState.DONE)

    def poll(self, ctx: RunContext) -> Poll:
        body = self.call(ctx, "GET", f"v1/task/{ctx.job.provider_task_id}")
        state = self._state(body)
        if state is PollState.DONE:
            ctx.save_state(urls=self._urls(body))
        return Poll(state, self._reason(body) if state is PollState.FAILED else "")

    def result(self, ctx: RunContext) -> Result:
        urls = ctx.job.provider_state.get("urls", [])
        names = ctx.job.stem_names
        if len(urls) < len(names):
            raise ProviderError(
                f"{self.label} returned {len(urls)} stems where {len(names)} were expected.",
                permanent=True,
            )
        return Result(stems=dict(zip(names, urls, strict=False)))

    def _state(self, body: dict[str, Any]) -> PollState:
        status = str(body.get("status", "")).lower()
        if status in _DONE and (body.get("urls") or body.get("url")):
            return PollState.DONE
        if status in _PENDING or (status in _DONE and not body.get("error")):
            return PollState.PENDING
        return PollState.FAILED

    def _urls(self, body: dict[str, Any]) -> list[str]:
        return list(body.get("urls") or ([body["url"]] if body.get("url") else []))

    def _reason(self, body: dict[str, Any]) -> str:
        error = body.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        return f"{self.label} could not separate this file: {message or 'no reason given'}"
