"""Stored files on local storage and on S3 (moto's server): deleting a folder, reading a file
in parts."""

from __future__ import annotations

import tracemalloc

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile

from library.models import Project
from stemweb.lib.storage import copy_to_local, delete_tree, iter_stored

FILES = ["projects/p/source.flac", "projects/p/jobs/j/vocals.flac", "projects/q/source.flac"]


def _field(name: str) -> FieldFile:
    """A ``FieldFile`` of the project model's source field naming ``name`` in default storage."""
    return FieldFile(Project(), Project._meta.get_field("source"), name)


@pytest.mark.s3
def test_it_deletes_a_folder_and_its_subfolders(stored):
    for name in FILES:
        default_storage.save(name, ContentFile(b"audio"))
    assert delete_tree(default_storage, "projects/p") == 2
    assert stored.names() == ["projects/q/source.flac"]
    assert delete_tree(default_storage, "projects/missing") == 0
    if stored.kind == "local":  # local storage also loses the emptied directories
        assert not (stored.media / "projects" / "p").exists()


@pytest.mark.s3
def test_a_stored_file_is_read_in_parts_and_copied_whole(stored, tmp_path):
    data = bytes(range(256)) * 20_000  # 5 MB, every byte position distinct mod 256
    name = default_storage.save("projects/p/source.wav", ContentFile(data))
    chunks = list(iter_stored(_field(name), chunk_size=1 << 20))
    assert [len(c) for c in chunks[:-1]] == [1 << 20] * (len(chunks) - 1)
    assert b"".join(chunks) == data
    assert copy_to_local(_field(name), tmp_path / "copy.wav").read_bytes() == data


@pytest.mark.parametrize("stored", ["s3"], indirect=True)
def test_reading_from_s3_never_holds_the_whole_object(stored):
    """django-storages' ``S3File.read`` first downloads the whole object; ``iter_stored``
    reads the GET's body as it streams in."""
    size = 16 << 20
    name = default_storage.save("projects/p/big.wav", ContentFile(b"\x01" * size))
    tracemalloc.start()
    try:
        read = sum(len(chunk) for chunk in iter_stored(_field(name), chunk_size=256 << 10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == size
    assert peak < size / 8, f"{peak} bytes held reading {size}"
