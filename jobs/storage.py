"""Moving stored files (local disk or S3) to where the workers' decoders can read them."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.db.models.fields.files import FieldFile

COPY_CHUNK = 1024 * 1024


def copy_to_local(field: FieldFile, target: Path) -> Path:
    """Copy a stored file to the local path ``target`` in 1 MiB chunks; returns ``target``."""
    with field.open("rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, length=COPY_CHUNK)
    return target
