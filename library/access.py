"""Access to folders and projects: a view's first line looks its object up here.

Another team's folder or project is 404; a role too low in one's own team is 403.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from accounts.access import (
    AuthenticatedHttpRequest,
    current_membership,
    membership_for,
    require_role,
)
from accounts.models import Membership
from library.models import Folder, Project
from stemweb.lib.ids import uuid_or_404

Role = Membership.Role


def folder_for_user(
    request: AuthenticatedHttpRequest, folder_id: str, role: str = Role.VIEWER
) -> tuple[Folder, Membership]:
    """The folder ``folder_id`` of one of the user's teams, and their membership there."""
    folder = get_object_or_404(
        Folder.objects.for_user(request.user).select_related("team"),
        public_id=uuid_or_404(folder_id),
    )
    membership = membership_for(request, folder.team)
    require_role(membership, role)
    return folder, membership


def project_for_user(
    request: AuthenticatedHttpRequest, project_id: str
) -> tuple[Project, Membership]:
    """The project ``project_id`` of one of the user's teams, and their membership there."""
    project = get_object_or_404(Project.objects.for_user(request.user), public_id=project_id)
    return project, membership_for(request, project.team)


def can_edit(membership: Membership, project: Project) -> bool:
    """Admins edit any project; members their own."""
    return membership.can_manage or (
        membership.can_upload and project.created_by_id == membership.user_id
    )


def target_folder(membership: Membership, value: str) -> Folder | None:
    """The folder a form names (``""``: the top level) in the membership's team; 404 when it
    is not there or is not a folder id."""
    if not value:
        return None
    return get_object_or_404(Folder, team=membership.team, public_id=uuid_or_404(value))


def parent_for_user(
    request: AuthenticatedHttpRequest, folder_id: str, role: str = Role.VIEWER
) -> tuple[Folder | None, Membership]:
    """A folder to work in (``""``: the top level of the current team) and the membership with
    ``role`` in its team."""
    if folder_id:
        return folder_for_user(request, folder_id, role)
    return None, current_membership(request, role)
