"""A team's webhook: its section of the team settings page, and saving or rotating it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.access import AuthenticatedHttpRequest, current_membership
from accounts.models import Membership
from webhooks.models import WebhookDelivery
from webhooks.payload import new_secret


class WebhookForm(forms.Form):
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Finished jobs are POSTed here. Leave empty to turn it off.",
    )


def settings_section(membership: Membership) -> tuple[str, dict[str, Any]]:
    """The webhook form, the signing secret and the last 50 deliveries (team settings page)."""
    team = membership.team
    return "webhooks/_team_webhook.html", {
        "webhook_form": WebhookForm(initial={"webhook_url": team.webhook_url}),
        "deliveries": WebhookDelivery.objects.filter(team=team).select_related("job__project")[:50],
    }


@login_required
@require_POST
def team_webhook(request: AuthenticatedHttpRequest) -> HttpResponse:
    team = current_membership(request, Membership.Role.ADMIN).team
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
        # django-stubs: iterating an ErrorList yields str at runtime (its __getitem__ renders
        # each ValidationError), but the stubs say ValidationError | str | _StrPromise.
        messages.error(request, "; ".join(str(error) for error in form.errors["webhook_url"]))
    return redirect("team_settings")
