"""Access to downloads: stems and jobs through ``jobs.access``, custom mixes here.

Another team's mix is 404; a held job's mix, like its stems, is 403 except for staff.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from accounts.access import AuthenticatedHttpRequest
from downloads.models import CustomMix
from jobs.access import job_for_user, refuse_if_held, stem_for_user
from jobs.models import SeparationJob

__all__ = ["job_for_user", "mix_for_user", "stem_for_user"]


def mix_for_user(request: AuthenticatedHttpRequest, mix_id: str) -> CustomMix:
    """The custom mix ``mix_id`` of one of the user's teams' jobs."""
    mix = get_object_or_404(
        CustomMix.objects.filter(
            job__in=SeparationJob.objects.for_user(request.user)
        ).select_related("job__project"),
        public_id=mix_id,
    )
    refuse_if_held(request, mix.job)
    return mix
