"""Stored files (local disk or S3): copy one to where a decoder can read it, delete a folder."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile

COPY_CHUNK = 1024 * 1024


def copy_to_local(field: FieldFile, target: Path) -> Path:
    """Copy a stored file to the local path ``target`` in 1 MiB chunks; returns ``target``."""
    with field.open("rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, length=COPY_CHUNK)
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
