"""Serving stored audio with HTTP Range support, so browsers can seek in players.

Implements single byte ranges of RFC 9110 §14 (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``):
a satisfiable range gets 206 with ``Content-Range``; an unsatisfiable one gets 416 with
``Content-Range: bytes */size``. Several ranges in one header are answered with the whole file
(200), which the RFC allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, NamedTuple, cast

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from stemweb.lib.storage import stored_extension

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage

CONTENT_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}
CHUNK = 256 * 1024
# Players ask for "bytes=N-" and would hold a server thread for the whole rest of the file;
# answering at most this much (a valid 206) lets the browser fetch the next part when it needs it.
PLAYER_RANGE_CAP = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ByteRange(NamedTuple):
    """Inclusive byte positions; ``open_ended`` for ``bytes=N-`` (a player reading on)."""

    start: int
    end: int
    open_ended: bool = False


def parse_range(header: str, size: int) -> ByteRange | Literal["unsatisfiable"] | None:
    """The bytes asked for, None to send the whole file, or "unsatisfiable"."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match:
        return None  # absent, malformed or multi-range: ignore it
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return ByteRange(max(0, size - length), size - 1)
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return ByteRange(start, end, open_ended=not last)


def _read(field: FieldFile, start: int, length: int) -> Iterator[bytes]:
    with field.open("rb") as fh:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def serve_audio(
    request: HttpRequest, field: FieldFile, *, filename: str, as_attachment: bool
) -> HttpResponseBase:
    """Stream ``field`` with Range support, a Content-Type from its extension and a
    Content-Disposition naming ``filename``.

    For players (inline), an open-ended range gets at most ``PLAYER_RANGE_CAP`` bytes, so a page
    with a dozen stems never ties up a dozen server threads streaming whole files.
    """
    size = field.size
    extension = stored_extension(field).lower()
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted == "unsatisfiable":
        refusal = HttpResponse(status=416)
        refusal["Content-Range"] = f"bytes */{size}"
        refusal["Accept-Ranges"] = "bytes"
        return refusal
    start, end, open_ended = wanted or ByteRange(0, size - 1)
    if open_ended and not as_attachment:
        end = min(end, start + PLAYER_RANGE_CAP - 1)
    length = end - start + 1 if size else 0
    response = StreamingHttpResponse(
        _read(field, start, length),
        status=206 if wanted else 200,
        content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    disposition = content_disposition_header(as_attachment, filename)
    assert disposition is not None  # None only for an empty filename; every caller names one
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "private, max-age=3600"
    return response


def serve_stored(
    request: HttpRequest, field: FieldFile, *, filename: str, as_attachment: bool
) -> HttpResponseBase:
    """Serve a stored file to someone already allowed to have it.

    With S3 storage: a redirect to a short-lived presigned URL that carries the
    Content-Disposition (S3 answers Range requests itself). With local storage: ``serve_audio``.
    """
    if settings.S3_BUCKET:
        # settings make the default storage django-storages' S3Storage when S3_BUCKET is set
        url = cast("S3Storage", default_storage).url(
            field.name,
            parameters={
                "ResponseContentDisposition": content_disposition_header(as_attachment, filename),
                "ResponseContentType": CONTENT_TYPES.get(
                    stored_extension(field).lower(), "application/octet-stream"
                ),
            },
            expire=300,
        )
        return HttpResponseRedirect(url)
    return serve_audio(request, field, filename=filename, as_attachment=as_attachment)
