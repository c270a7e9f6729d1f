"""What an outgoing webhook says about an ended job, and the secret that signs it.

The payload has the shape of ../shared/specs/PROVIDERS.md's Suno-style callbacks, so receivers
built for that API work unchanged::

    {"code": 200, "msg": "success",
     "data": {"task_id": "<job id>", "status": "succeeded", "project": "<name>",
              "stem_set": "vocals_instrumental",
              "vocal_removal_info": {"<stem>_url": "<signed, expiring link>", ...}}}

A failed, timed-out or canceled job sends ``code`` 500, 504 or 499 and the reason as ``msg``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from jobs import signing
from jobs.models import SeparationJob

_CODES = {"succeeded": 200, "failed": 500, "timed_out": 504, "canceled": 499}


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_payload(job: SeparationJob) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": str(job.pk),
        "status": job.status,
        "project": job.project.name,
        "stem_set": job.stem_set,
    }
    if job.status == SeparationJob.Status.SUCCEEDED:
        data["vocal_removal_info"] = {
            f"{stem.name}_url": signing.stem_url(stem) for stem in job.stems.all()
        }
    code = _CODES.get(job.status, 500)
    return {"code": code, "msg": "success" if code == 200 else job.error, "data": data}
