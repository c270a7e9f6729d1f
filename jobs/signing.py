"""Signed, expiring links to stored audio for callers without a session: a provider fetching a
project's source (FineVoice ``sourceUrl``), a team's webhook receiver fetching stems.

With S3 storage the link is the bucket's own presigned URL; with local storage it is a stemweb
URL carrying a ``TimestampSigner`` token that the view checks locally (no database lookup of a
token table, no state to clean up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.urls import reverse

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage

    from jobs.models import Stem
    from library.models import Project

SOURCE_SALT = "stemweb.signed-source"
STEM_SALT = "stemweb.signed-stem"


def _absolute(path: str) -> str:
    return settings.STEMWEB_PUBLIC_URL + path


# Signature Version 4 presigned links live at most 7 days (AWS S3 API reference, "Authenticating
# Requests: Using Query Parameters", X-Amz-Expires).
PRESIGNED_MAX_S = 7 * 86400


def _presigned(field: FieldFile, ttl_s: int) -> str | None:
    if settings.S3_BUCKET:
        # settings make the default storage django-storages' S3Storage when S3_BUCKET is set
        return cast("S3Storage", default_storage).url(
            field.name, expire=min(ttl_s, PRESIGNED_MAX_S)
        )
    return None


def source_url(project: Project, ttl_s: int | None = None) -> str:
    """An absolute URL that serves ``project``'s source for ``ttl_s`` seconds."""
    ttl_s = ttl_s or settings.STEMWEB_SIGNED_URL_TTL_S
    if presigned := _presigned(project.source, ttl_s):
        return presigned
    token = signing.TimestampSigner(salt=SOURCE_SALT).sign(str(project.public_id))
    return _absolute(reverse("signed_source", args=[token]))


def stem_url(stem: Stem, ttl_s: int | None = None) -> str:
    """An absolute URL that serves ``stem``'s file for ``ttl_s`` seconds."""
    ttl_s = ttl_s or settings.STEMWEB_SIGNED_URL_TTL_S
    if presigned := _presigned(stem.file, ttl_s):
        return presigned
    token = signing.TimestampSigner(salt=STEM_SALT).sign(str(stem.public_id))
    return _absolute(reverse("signed_stem", args=[token]))


def unsign(token: str, salt: str) -> str | None:
    """The public id inside a valid, unexpired token; None otherwise."""
    try:
        return signing.TimestampSigner(salt=salt).unsign(
            token, max_age=settings.STEMWEB_SIGNED_URL_TTL_S
        )
    except signing.BadSignature:
        return None
