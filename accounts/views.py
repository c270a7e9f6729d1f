"""Team settings: the outgoing webhook and its deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import Membership, Team
from accounts.services import team_current
from jobs.models import WebhookDelivery
from jobs.webhooks import new_secret

MANAGERS = (Membership.Role.ADMIN, Membership.Role.OWNER)


class WebhookForm(forms.ModelForm):
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Finished jobs are POSTed here. Leave empty to turn it off.",
    )

    class Meta:
        model = Team
        fields = ["webhook_url"]


@login_required
def team_settings(request: HttpRequest) -> HttpResponse:
    membership = team_current(request=request)
    if membership.role not in MANAGERS:
        raise PermissionDenied("Only team admins and owners manage the team's settings.")
    team = membership.team
    form = WebhookForm(request.POST or None, instance=team)
    if request.method == "POST":
        if "rotate" in request.POST:
            team.webhook_secret = new_secret()
            team.save(update_fields=["webhook_secret_encrypted"])
            messages.success(request, "A new webhook secret is in use; update your receiver.")
            return redirect("team_settings")
        if form.is_valid():
            team = form.save(commit=False)
            if team.webhook_url and not team.webhook_secret:
                team.webhook_secret = new_secret()
            team.save()
            messages.success(request, "Webhook saved.")
            return redirect("team_settings")
    deliveries = (
        WebhookDelivery.objects.filter(team=team)
        .select_related("job__project")
        .order_by("-created")[:50]
    )
    return render(
        request,
        "accounts/team_settings.html",
        {"team": team, "form": form, "deliveries": deliveries},
    )
