"""Deleting a folder of stored files, on local storage and on one with no local paths (S3)."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from stemweb.lib.storage import delete_tree

FILES = ["projects/p/source.flac", "projects/p/jobs/j/vocals.flac", "projects/q/source.flac"]


class KeyValueStorage(Storage):
    """Keys and bytes, like an S3 bucket: listdir and delete work, and ``path()`` is
    Storage's own, which raises NotImplementedError (as django-storages' S3Storage does)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def _save(self, name, content):  # type: ignore[no-untyped-def]
        self.objects[name] = content.read()
        return name

    def exists(self, name: str) -> bool:
        return name in self.objects

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = path.rstrip("/") + "/"
        below = [key[len(prefix) :] for key in self.objects if key.startswith(prefix)]
        dirs = sorted({rest.split("/", 1)[0] for rest in below if "/" in rest})
        return dirs, sorted(rest for rest in below if "/" not in rest)


def _fill(storage: Storage) -> None:
    for name in FILES:
        storage.save(name, ContentFile(b"audio"))


def test_it_deletes_a_folder_and_its_subfolders_on_local_storage(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    _fill(storage)
    assert delete_tree(storage, "projects/p") == 2
    assert not (tmp_path / "projects" / "p").exists()
    assert storage.exists("projects/q/source.flac")


def test_it_works_on_a_storage_without_local_paths():
    storage = KeyValueStorage()
    _fill(storage)
    assert delete_tree(storage, "projects/p") == 2
    assert sorted(storage.objects) == ["projects/q/source.flac"]
    assert delete_tree(storage, "projects/missing") == 0
