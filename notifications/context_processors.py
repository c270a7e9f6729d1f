"""Template context for base.html's notify.js."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def notify(request: HttpRequest) -> dict[str, object]:
    """``notify_poll_s``: seconds between notify.js's polls (``STEMWEB_NOTIFY_POLL_S``)."""
    return {"notify_poll_s": settings.STEMWEB_NOTIFY_POLL_S}
