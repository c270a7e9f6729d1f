"""Teams: list, create, switch; settings (name, members, invitations, provider keys, webhook,
usage); leave, transfer, delete; accepting an invitation.

Every view's first lines look the team up through the user's membership (404 for anyone
outside) and check the role the action needs (403 for a role too low).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import services
from accounts.models import Invitation, Membership, ProviderKey
from jobs.models import Project, SeparationJob, Stem, WebhookDelivery
from jobs.providers import PROVIDERS
from jobs.services import month_start, projects_delete, team_usage
from jobs.webhooks import new_secret

Role = Membership.Role


def _require(membership: Membership, role: str) -> None:
    if not membership.has_role(role):
        raise PermissionDenied(f"This needs the {role} role in {membership.team.name}.")


class WebhookForm(forms.Form):
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Finished jobs are POSTed here. Leave empty to turn it off.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(
        widget=forms.EmailInput(attrs={"placeholder": "name@example.com", "aria-label": "Email"})
    )
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in Role if r != Role.OWNER], initial=Role.MEMBER
    )


class KeyForm(forms.Form):
    provider = forms.ChoiceField(
        choices=[(k, cls.label) for k, cls in PROVIDERS.items() if cls.needs_api_key]
    )
    api_key = forms.CharField(label="API key", widget=forms.PasswordInput(render_value=False))


class QuotaForm(forms.Form):
    quota_stem_seconds = forms.FloatField(label="Stem-seconds a month", required=False, min_value=0)
    quota_credits = forms.FloatField(label="Credits a month", required=False, min_value=0)


@login_required
def teams(request: HttpRequest) -> HttpResponse:
    """The user's teams, and a form to create one."""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if name:
            team = services.team_create(user=request.user, name=name)
            services.team_switch(request=request, team=team)
            messages.success(request, f"Team “{team.name}” created; you are working in it now.")
            return redirect("dashboard")
        messages.error(request, "A team needs a name.")
    memberships = (
        Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    )
    return render(request, "accounts/teams.html", {"memberships": memberships})


@login_required
@require_POST
def team_switch(request: HttpRequest, team_id: str) -> HttpResponse:
    membership = get_object_or_404(Membership, user=request.user, team__public_id=team_id)
    services.team_switch(request=request, team=membership.team)
    return redirect("dashboard")


@login_required
def team_settings(request: HttpRequest) -> HttpResponse:
    membership = services.team_current(request=request)
    team = membership.team
    context = {
        "team": team,
        "membership": membership,
        "members": Membership.objects.filter(team=team)
        .select_related("user")
        .order_by("user__email"),
    }
    if membership.can_manage:
        context.update(
            webhook_form=WebhookForm(initial={"webhook_url": team.webhook_url}),
            invite_form=InviteForm(),
            key_form=KeyForm(),
            quota_form=QuotaForm(
                initial={
                    "quota_stem_seconds": team.quota_stem_seconds,
                    "quota_credits": team.quota_credits,
                }
            ),
            invitations=Invitation.objects.filter(
                team=team, accepted__isnull=True, revoked__isnull=True, expires__gt=timezone.now()
            ),
            keys=ProviderKey.objects.filter(team=team).order_by("provider"),
            deliveries=WebhookDelivery.objects.filter(team=team).select_related("job__project")[
                :50
            ],
        )
    return render(request, "accounts/team_settings.html", context)


def _manager(request: HttpRequest) -> Membership:
    membership = services.team_current(request=request)
    _require(membership, Role.ADMIN)
    return membership


@login_required
@require_POST
def team_rename(request: HttpRequest) -> HttpResponse:
    team = _manager(request).team
    name = request.POST.get("name", "").strip()
    if name:
        team.name = name[:100]
        team.save(update_fields=["name"])
        messages.success(request, "Team renamed.")
    return redirect("team_settings")


@login_required
@require_POST
def team_webhook(request: HttpRequest) -> HttpResponse:
    team = _manager(request).team
    if "rotate" in request.POST:
        team.webhook_secret = new_secret()
        team.save(update_fields=["webhook_secret_encrypted"])
        messages.success(request, "A new webhook secret is in use; update your receiver.")
        return redirect("team_settings")
    form = WebhookForm(request.POST)
    if form.is_valid():
        team.webhook_url = form.cleaned_data["webhook_url"]
        if team.webhook_url and not team.webhook_secret:
            team.webhook_secret = new_secret()
        team.save()
        messages.success(request, "Webhook saved.")
    else:
        messages.error(request, "; ".join(form.errors["webhook_url"]))
    return redirect("team_settings")


@login_required
@require_POST
def team_quota(request: HttpRequest) -> HttpResponse:
    team = _manager(request).team
    form = QuotaForm(request.POST)
    if form.is_valid():
        team.quota_stem_seconds = form.cleaned_data["quota_stem_seconds"]
        team.quota_credits = form.cleaned_data["quota_credits"]
        team.save(update_fields=["quota_stem_seconds", "quota_credits"])
        messages.success(request, "Quota saved.")
    return redirect("team_settings")


@login_required
@require_POST
def provider_key_set(request: HttpRequest) -> HttpResponse:
    membership = _manager(request)
    form = KeyForm(request.POST)
    if form.is_valid():
        try:
            stored = services.provider_key_set(
                team=membership.team,
                provider=form.cleaned_data["provider"],
                key=form.cleaned_data["api_key"],
                user=request.user,
            )
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(
                request,
                f"Key ending in {stored.last4} saved for {PROVIDERS[stored.provider].label}.",
            )
    return redirect("team_settings")


@login_required
@require_POST
def provider_key_delete(request: HttpRequest, provider: str) -> HttpResponse:
    membership = _manager(request)
    get_object_or_404(ProviderKey, team=membership.team, provider=provider).delete()
    messages.success(request, "Key removed; the site's key is used again, if there is one.")
    return redirect("team_settings")


@login_required
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    membership = _manager(request)
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
def invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    membership = _manager(request)
    invitation = get_object_or_404(Invitation, team=membership.team, public_id=invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation to {invitation.email} is revoked.")
    return redirect("team_settings")


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Shows the invitation; logged in as the invited address, a POST joins the team."""
    invitation = services.invitation_from_token(token)
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


def _membership_in_team(request: HttpRequest, membership_id: str) -> tuple[Membership, Membership]:
    actor = services.team_current(request=request)
    target = get_object_or_404(
        Membership.objects.select_related("user"), team=actor.team, public_id=membership_id
    )
    return actor, target


@login_required
@require_POST
def member_role(request: HttpRequest, membership_id: str) -> HttpResponse:
    actor, target = _membership_in_team(request, membership_id)
    _require(actor, Role.ADMIN)
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
def member_remove(request: HttpRequest, membership_id: str) -> HttpResponse:
    actor, target = _membership_in_team(request, membership_id)
    _require(actor, Role.ADMIN)
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
def team_transfer(request: HttpRequest, membership_id: str) -> HttpResponse:
    actor, target = _membership_in_team(request, membership_id)
    _require(actor, Role.OWNER)
    services.ownership_transfer(team=actor.team, from_user=request.user, to_membership=target)
    messages.success(request, f"{target.user.email} owns {actor.team.name} now; you are an admin.")
    return redirect("team_settings")


@login_required
@require_POST
def team_leave(request: HttpRequest) -> HttpResponse:
    membership = services.team_current(request=request)
    try:
        services.membership_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("team_settings")
    request.session.pop(services.CURRENT_TEAM_SESSION_KEY, None)
    messages.success(request, f"You left {membership.team.name}.")
    return redirect("dashboard")


@login_required
def team_delete(request: HttpRequest) -> HttpResponse:
    """Owner only. GET asks for confirmation with what goes; POST deletes, files included."""
    membership = services.team_current(request=request)
    _require(membership, Role.OWNER)
    team = membership.team
    projects = Project.objects.filter(team=team)
    files = (
        projects.exclude(source="").count() + Stem.objects.filter(job__project__team=team).count()
    )
    if request.method == "POST":
        if request.POST.get("confirm") != team.name:
            messages.error(request, "Type the team's name to confirm.")
        else:
            with transaction.atomic():
                projects_delete(projects=projects)
                team.delete()
            request.session.pop(services.CURRENT_TEAM_SESSION_KEY, None)
            messages.success(request, f"Team “{team.name}” and its files are deleted.")
            return redirect("dashboard")
    return render(
        request,
        "accounts/team_delete.html",
        {"team": team, "projects": projects.count(), "files": files},
    )


@login_required
def team_usage_page(request: HttpRequest) -> HttpResponse:
    membership = services.team_current(request=request)
    team = membership.team
    since = month_start()
    by_provider = (
        SeparationJob.objects.filter(project__team=team, created__gte=since)
        .values("provider", "cost_unit", "status")
        .order_by("provider")
    )
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for row in by_provider.annotate(total=Sum("cost"), jobs=Count("id")):
        entry = rows.setdefault((row["provider"], row["cost_unit"]), {"jobs": 0, "counted": 0.0})
        entry["jobs"] += row["jobs"]
        if row["status"] not in ("failed", "timed_out", "canceled"):
            entry["counted"] += row["total"] or 0.0
    return render(
        request,
        "accounts/team_usage.html",
        {
            "team": team,
            "since": since,
            "usage": team_usage(team=team),
            "rows": [
                {"provider": PROVIDERS[p].label if p in PROVIDERS else p, "unit": u, **v}
                for (p, u), v in rows.items()
            ],
        },
    )
