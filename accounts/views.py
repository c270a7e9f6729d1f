"""A person's own settings (notifications); teams: list, create, switch; settings (name, members,
invitations, quota, and the sections other apps add); leave, transfer; accepting an invitation.

Every view's first lines look the team up through the user's membership (404 for anyone
outside) and check the role the action needs (403 for a role too low).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.http import require_POST

from accounts import services
from accounts.access import (
    AuthenticatedHttpRequest,
    current_membership,
    invitation_for_link,
    member_of_current_team,
    membership_for,
    require_role,
    user_memberships,
)
from accounts.models import Invitation, Membership, Team, User

Role = Membership.Role


class InviteForm(forms.Form):
    email = forms.EmailField(
        widget=forms.EmailInput(attrs={"placeholder": "name@example.com", "aria-label": "Email"})
    )
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in Role if r != Role.OWNER], initial=Role.MEMBER
    )


class QuotaForm(forms.Form):
    quota_stem_seconds = forms.FloatField(label="Stem-seconds a month", required=False, min_value=0)
    quota_credits = forms.FloatField(label="Credits a month", required=False, min_value=0)


class NotificationsForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["email_when_job_ends"]


@login_required
def user_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Settings: the person's notifications (an email when a job they started ends); links to
    their API tokens."""
    posted = request.method == "POST"  # an unticked box posts nothing: no `POST or None`
    form = NotificationsForm(request.POST if posted else None, instance=request.user)
    if posted and form.is_valid():
        form.save()
        on = form.cleaned_data["email_when_job_ends"]
        messages.success(
            request,
            f"Saved: {'an email' if on else 'no email'} when a job you started ends.",
        )
        return redirect("user_settings")
    return render(request, "accounts/user_settings.html", {"form": form})


@login_required
def teams(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's teams, and a form to create one."""
    memberships = user_memberships(request)
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if name:
            team = services.team_create(user=request.user, name=name)
            services.team_switch(request=request, team=team)
            messages.success(request, f"Team “{team.name}” created; you are working in it now.")
            return redirect("dashboard")
        messages.error(request, "A team needs a name.")
    return render(request, "accounts/teams.html", {"memberships": memberships})


@login_required
@require_POST
def team_switch(request: AuthenticatedHttpRequest, team_id: str) -> HttpResponse:
    membership = membership_for(request, get_object_or_404(Team, public_id=team_id))
    services.team_switch(request=request, team=membership.team)
    return redirect("dashboard")


@login_required
def team_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Name, members and invitations, quota, and the sections other apps add to the page
    (``STEMWEB_TEAM_SETTINGS_SECTIONS``: provider keys, webhook) for those who manage it."""
    membership = current_membership(request)
    team = membership.team
    sections: list[str] = []
    context = {
        "team": team,
        "membership": membership,
        "members": Membership.objects.filter(team=team)
        .select_related("user")
        .order_by("user__email"),
        "sections": sections,
    }
    if membership.can_manage:
        context.update(
            invite_form=InviteForm(),
            quota_form=QuotaForm(
                initial={
                    "quota_stem_seconds": team.quota_stem_seconds,
                    "quota_credits": team.quota_credits,
                }
            ),
            invitations=Invitation.objects.filter(
                team=team, accepted__isnull=True, revoked__isnull=True, expires__gt=timezone.now()
            ),
        )
        for path in settings.STEMWEB_TEAM_SETTINGS_SECTIONS:
            template, extra = import_string(path)(membership)
            sections.append(template)
            context.update(extra)
    return render(request, "accounts/team_settings.html", context)


@login_required
@require_POST
def team_rename(request: AuthenticatedHttpRequest) -> HttpResponse:
    team = current_membership(request, Role.ADMIN).team
    name = request.POST.get("name", "").strip()
    if name:
        team.name = name[:100]
        team.save(update_fields=["name"])
        messages.success(request, "Team renamed.")
    return redirect("team_settings")


@login_required
@require_POST
def team_quota(request: AuthenticatedHttpRequest) -> HttpResponse:
    team = current_membership(request, Role.ADMIN).team
    form = QuotaForm(request.POST)
    if form.is_valid():
        team.quota_stem_seconds = form.cleaned_data["quota_stem_seconds"]
        team.quota_credits = form.cleaned_data["quota_credits"]
        team.save(update_fields=["quota_stem_seconds", "quota_credits"])
        messages.success(request, "Quota saved.")
    return redirect("team_settings")


@login_required
@require_POST
def invitation_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = current_membership(request, Role.ADMIN)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                team=membership.team,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
                request=request,
            )
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
    else:
        messages.error(request, "Give an email address and a role.")
    return redirect("team_settings")


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedHttpRequest, invitation_id: str) -> HttpResponse:
    membership = current_membership(request, Role.ADMIN)
    invitation = get_object_or_404(Invitation, team=membership.team, public_id=invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation to {invitation.email} is revoked.")
    return redirect("team_settings")


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Shows the invitation; logged in as the invited address, a POST joins the team."""
    invitation = invitation_for_link(token)
    if invitation is None:
        return render(
            request,
            "accounts/invitation.html",
            {"problem": "This invitation link is not valid."},
            status=404,
        )
    user = request.user if request.user.is_authenticated else None
    problem = services.invitation_problem(invitation, user)
    if request.method == "POST" and user is not None and problem is None:
        try:
            joined = services.invitation_accept(invitation=invitation, user=user)
        except ValidationError as exc:  # used or revoked in the meantime
            problem = exc.messages[0]
        else:
            services.team_switch(request=request, team=joined.team)
            messages.success(
                request, f"You joined {joined.team.name} as {joined.get_role_display().lower()}."
            )
            return redirect("dashboard")
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": invitation, "problem": problem},
        status=410 if problem and "expired" in problem else 200,
    )


@login_required
@require_POST
def member_role(request: AuthenticatedHttpRequest, membership_id: str) -> HttpResponse:
    actor, target = member_of_current_team(request, membership_id)
    require_role(actor, Role.ADMIN)
    try:
        services.membership_set_role(membership=target, role=request.POST.get("role", ""))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request, f"{target.user.email} is now {target.get_role_display().lower()}."
        )
    return redirect("team_settings")


@login_required
@require_POST
def member_remove(request: AuthenticatedHttpRequest, membership_id: str) -> HttpResponse:
    actor, target = member_of_current_team(request, membership_id)
    require_role(actor, Role.ADMIN)
    if target.role == Role.OWNER and not actor.is_owner:
        raise PermissionDenied("Only an owner can remove an owner.")
    try:
        services.membership_remove(membership=target)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"{target.user.email} was removed from the team.")
    return redirect("team_settings")


@login_required
@require_POST
def team_transfer(request: AuthenticatedHttpRequest, membership_id: str) -> HttpResponse:
    actor, target = member_of_current_team(request, membership_id)
    require_role(actor, Role.OWNER)
    services.ownership_transfer(team=actor.team, from_user=request.user, to_membership=target)
    messages.success(request, f"{target.user.email} owns {actor.team.name} now; you are an admin.")
    return redirect("team_settings")


@login_required
@require_POST
def team_leave(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = current_membership(request)
    try:
        services.membership_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("team_settings")
    request.session.pop(services.CURRENT_TEAM_SESSION_KEY, None)
    messages.success(request, f"You left {membership.team.name}.")
    return redirect("dashboard")
