"""Reads of a team's folder tree: the indented tree, breadcrumbs, a folder's children."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Team
from library.models import Folder


@dataclass
class TreeNode:
    folder: Folder
    depth: int


def team_folders(team: Team) -> list[Folder]:
    """All of the team's folders in one query, with only what the tree needs."""
    return list(
        Folder.objects.filter(team=team).only(
            "pk", "public_id", "name", "parent_id", "camb_folder_id"
        )
    )


def folder_tree(folders: list[Folder]) -> list[TreeNode]:
    """The folders depth first, siblings by name (case-insensitive), each with its depth."""
    children: dict[int | None, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder)
    out: list[TreeNode] = []

    def walk(parent: int | None, depth: int) -> None:
        for folder in sorted(children.get(parent, []), key=lambda f: f.name.lower()):
            out.append(TreeNode(folder, depth))
            walk(folder.pk, depth + 1)

    walk(None, 0)
    return out


def breadcrumbs(folder: Folder | None, folders: list[Folder]) -> list[Folder]:
    """The folders from the top level down to ``folder`` (empty at the top level)."""
    by_id = {f.pk: f for f in folders}
    crumbs = []
    while folder is not None:
        crumbs.append(folder)
        folder = by_id.get(folder.parent_id) if folder.parent_id else None
    return crumbs[::-1]


def subfolders(folder: Folder | None, folders: list[Folder]) -> list[Folder]:
    """The direct children of ``folder`` (None: the top level), by name."""
    parent = folder.pk if folder else None
    return sorted((f for f in folders if f.parent_id == parent), key=lambda f: f.name.lower())
