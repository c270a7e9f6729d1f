"""Stored files (local disk or S3): read one in parts, copy one to where a decoder can read it,
delete a folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

COPY_CHUNK = 1024 * 1024


def iter_stored(field: FieldFile, chunk_size: int = COPY_CHUNK) -> Iterator[bytes]:
    """The bytes of a stored file, in chunks of at most ``chunk_size`` bytes, as they arrive.

    On S3 this is one ``GetObject`` whose body is read as it streams in: django-storages'
    ``S3File`` would first download the whole object into a temporary file, so a zip of a
    dozen stems would hold them all before sending a byte. Local files are read in place.
    Raises ``FileNotFoundError`` (local) or botocore's ``ClientError`` (S3) for a missing file.
    """
    storage = field.storage
    if isinstance(storage, S3Storage):
        # The object key the storage itself would use: its location prefix and clean name.
        key = storage._normalize_name(clean_name(field.name))
        body = storage.bucket.Object(key).get()["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()
        return
    with field.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk


def copy_to_local(field: FieldFile, target: Path) -> Path:
    """Copy a stored file to the local path ``target`` in 1 MiB chunks; returns ``target``."""
    with open(target, "wb") as dst:
        for chunk in iter_stored(field):
            dst.write(chunk)
    return target


def stored_extension(field: FieldFile) -> str:
    """The extension of a stored file's name, without the dot and as stored (not lowercased).

    A ``FileField`` that is not nullable names an empty file ``""``, never None.
    """
    return (field.name or "").rsplit(".", 1)[-1]


def saved_name(field: FieldFile) -> str:
    """The storage name of a file just saved into ``field`` (``FieldFile.save`` sets it to
    what the storage returned; the stubs type ``name`` as ``str | None``)."""
    assert field.name is not None
    return field.name


def delete_tree(storage: Storage, prefix: str) -> int:
    """Delete every file under the folder ``prefix`` of ``storage`` (local or S3); the count.

    Local storage also loses the emptied directories. A missing folder deletes nothing.
    """
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    deleted = 0
    for name in files:
        storage.delete(f"{prefix}/{name}")
        deleted += 1
    for name in dirs:
        deleted += delete_tree(storage, f"{prefix}/{name}")
    # Only local storage has directories to remove; every Storage has a path() method, but
    # S3's raises NotImplementedError.
    if isinstance(storage, FileSystemStorage):
        with contextlib.suppress(OSError):  # not empty, or already gone
            os.rmdir(storage.path(prefix))
    return deleted
