"""Writes on a team's library: folders (create, rename, move, delete) and projects (store an
upload and its waveform, rename, move, delete), each keeping storage and database consistent.

A file is only kept when its row is committed, and deleting rows deletes their files after the
commit (every file of a project lives under its storage folder).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, QuerySet

from accounts.models import Team, User
from audio.analysis import peaks_json, waveform_peaks
from audio.probe import AudioInfo
from library.models import Folder, Project, project_storage_prefix
from stemweb.lib.storage import copy_to_local, delete_tree, saved_name, stored_extension


def project_create(
    *,
    team: Team,
    user: User,
    upload_path: Path,
    original_filename: str,
    info: AudioInfo,
    name: str,
    description: str = "",
    folder: Folder | None = None,
) -> Project:
    """Store an uploaded mixture that ``probe`` accepted, and its project row.

    The file is copied from ``upload_path`` (a temporary file) into storage in chunks. When the
    row cannot be written, the stored file is deleted again.
    """
    with open(upload_path, "rb") as fh:
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    project = Project(
        team=team,
        folder=folder,
        name=name,
        description=description,
        created_by=user,
        original_filename=original_filename[:255],
        container=info.container,
        codec=info.codec,
        duration_s=info.duration_s,
        sample_rate=info.sample_rate,
        channels=info.channels,
        size_bytes=upload_path.stat().st_size,
        sha256=sha256,
    )
    with open(upload_path, "rb") as fh:
        project.source.save(f"source.{info.extension}", File(fh), save=False)
    stored_name = saved_name(project.source)
    try:
        with transaction.atomic():
            project.save()
    except BaseException:
        default_storage.delete(stored_name)
        raise
    return project


def project_store_source_peaks(*, project_id: int) -> bool:
    """Compute the waveform peaks of a project's stored source and store them beside it
    (``source.peaks.json``, the format of stems' peaks), once. A worker runs this
    (``library.tasks.source_peaks``); it decodes the whole source, one block at a time.

    Returns whether this call stored them: False when the project is gone, has no source yet
    (a platform track), or has its peaks already (a duplicate task). Decoding errors propagate.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None or not project.source or project.source_peaks:
        return False
    with tempfile.TemporaryDirectory(prefix="stemweb-peaks-") as tmp:
        local = Path(tmp) / f"source.{stored_extension(project.source)}"
        peaks = waveform_peaks(copy_to_local(project.source, local), project.audio_info())
    assert project.duration_s is not None  # stored with the source (see ``Project.frames``)
    project.source_peaks.save(
        "source.peaks.json", ContentFile(peaks_json(peaks, project.duration_s)), save=False
    )
    name = saved_name(project.source_peaks)
    # Only where no other task stored peaks meanwhile and the project still exists: else the
    # file would be left with no row pointing at it.
    stored = Project.objects.filter(pk=project.pk, source_peaks="").update(source_peaks=name)
    if not stored:
        default_storage.delete(name)
    return bool(stored)


class ProjectError(ValueError):
    """A project change that cannot be made. ``str(error)`` is shown to the user."""


def project_rename(*, project: Project, name: str, description: str) -> Project:
    """Give ``project`` a new name and description; the name cannot be empty."""
    name = name.strip()
    if not name:
        raise ProjectError("A project needs a name.")
    project.name, project.description = name[:255], description.strip()
    project.save(update_fields=["name", "description"])
    return project


class FolderError(ValueError):
    """A folder change that cannot be made. ``str(error)`` is shown to the user."""


def _check_sibling_name(
    *, team: Team, parent: Folder | None, name: str, exclude: int | None
) -> str:
    name = name.strip()
    if not name:
        raise FolderError("A folder needs a name.")
    if "/" in name:
        raise FolderError("Folder names cannot contain “/”.")
    siblings = Folder.objects.filter(team=team, parent=parent, name__iexact=name)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude)
    if siblings.exists():
        where = f"“{parent.name}”" if parent else "the top level"
        raise FolderError(f"There is already a folder named “{name}” in {where}.")
    return name[:255]


def folder_create(*, team: Team, parent: Folder | None, name: str) -> Folder:
    if parent is not None and parent.team_id != team.pk:
        raise FolderError("The parent folder belongs to another team.")
    name = _check_sibling_name(team=team, parent=parent, name=name, exclude=None)
    return Folder.objects.create(team=team, parent=parent, name=name)


def folder_rename(*, folder: Folder, name: str) -> Folder:
    folder.name = _check_sibling_name(
        team=folder.team, parent=folder.parent, name=name, exclude=folder.pk
    )
    folder.save(update_fields=["name"])
    return folder


def folder_descendant_ids(folder: Folder) -> list[int]:
    """The ids of ``folder`` and every folder below it, breadth first (one query a level)."""
    found, level = [folder.pk], [folder.pk]
    while level:
        level = list(Folder.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        found.extend(level)
    return found


def folder_move(*, folder: Folder, parent: Folder | None) -> Folder:
    """Move ``folder`` under ``parent`` (None: the top level); never into its own subtree."""
    if parent is not None:
        if parent.team_id != folder.team_id:
            raise FolderError("The target folder belongs to another team.")
        if parent.pk in folder_descendant_ids(folder):
            raise FolderError(f"“{folder.name}” cannot be moved into itself or its own subfolder.")
    folder.name = _check_sibling_name(
        team=folder.team, parent=parent, name=folder.name, exclude=folder.pk
    )
    folder.parent = parent
    folder.save(update_fields=["parent", "name"])
    return folder


@dataclass(frozen=True)
class FolderContents:
    folders: int  # subfolders, at any depth
    projects: int
    files: int  # sources and stems in storage


def folder_contents(folder: Folder) -> FolderContents:
    ids = folder_descendant_ids(folder)
    projects = Project.objects.filter(folder_id__in=ids)
    return FolderContents(
        folders=len(ids) - 1, projects=projects.count(), files=file_count(projects)
    )


def file_count(projects: QuerySet[Project]) -> int:
    """Sources and stems in storage of ``projects`` (what a person would call their files)."""
    sources = projects.exclude(source="").count()
    stems = projects.aggregate(n=Count("jobs__stems"))["n"] or 0
    return sources + stems


@transaction.atomic
def projects_delete(*, projects: QuerySet[Project]) -> int:
    """Delete projects with their jobs and stems; every file under their storage folders
    (sources, stems, waveforms, renditions, mixes) leaves storage after commit."""
    prefixes = [project_storage_prefix(p) for p in projects.only("public_id")]
    count = projects.count()
    projects.delete()
    transaction.on_commit(partial(_delete_trees, prefixes))
    return count


def _delete_trees(prefixes: list[str]) -> None:
    for prefix in prefixes:
        delete_tree(default_storage, prefix)


@transaction.atomic
def folder_delete(*, folder: Folder) -> FolderContents:
    """Delete a folder, its subfolders and their projects; files leave storage after commit."""
    contents = folder_contents(folder)
    projects_delete(projects=Project.objects.filter(folder_id__in=folder_descendant_ids(folder)))
    folder.delete()
    return contents


def projects_move(*, projects: QuerySet[Project], folder: Folder | None) -> int:
    """Move projects into ``folder`` (None: the top level); it must be the projects' team's."""
    if folder is not None and projects.exclude(team_id=folder.team_id).exists():
        raise FolderError("Projects can only move within their own team.")
    return projects.update(folder=folder)


@transaction.atomic
def team_delete(*, team: Team) -> int:
    """Delete a team with its folders, projects and every file they have; the project count."""
    count = projects_delete(projects=Project.objects.filter(team=team))
    team.delete()
    return count
