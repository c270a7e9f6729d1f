"""Object ids that arrive in form fields: a malformed one is a 404, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.http import Http404


def uuid_or_404(value: object) -> uuid.UUID:
    """``value`` as a UUID. Raises Http404 when it is not one (URL paths check this already;
    POST fields do not)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404("not an id") from None


def uuids_or_404(values: Iterable[object]) -> list[uuid.UUID]:
    """Each of ``values`` as a UUID; Http404 when any is not one."""
    return [uuid_or_404(value) for value in values]
