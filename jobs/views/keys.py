"""A team's own provider API keys: their section of the team settings page, set and remove."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts import services
from accounts.access import AuthenticatedHttpRequest, current_membership
from accounts.models import Membership, ProviderKey
from providers.registry import all_providers, provider_label

Role = Membership.Role


class KeyForm(forms.Form):
    provider = forms.ChoiceField(choices=())
    api_key = forms.CharField(label="API key", widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider_field = self.fields["provider"]
        assert isinstance(provider_field, forms.ChoiceField)  # declared above
        provider_field.choices = [(p.key, p.label) for p in all_providers() if p.needs_api_key]


def settings_section(membership: Membership) -> tuple[str, dict[str, Any]]:
    """The key form and the team's stored keys (last four characters only)."""
    return "jobs/_team_keys.html", {
        "key_form": KeyForm(),
        "keys": ProviderKey.objects.filter(team=membership.team).order_by("provider"),
    }


@login_required
@require_POST
def provider_key_set(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = current_membership(request, Role.ADMIN)
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
                f"Key ending in {stored.last4} saved for {provider_label(stored.provider)}.",
            )
    return redirect("team_settings")


@login_required
@require_POST
def provider_key_delete(request: AuthenticatedHttpRequest, provider: str) -> HttpResponse:
    membership = current_membership(request, Role.ADMIN)
    get_object_or_404(ProviderKey, team=membership.team, provider=provider).delete()
    messages.success(request, "Key removed; the site's key is used again, if there is one.")
    return redirect("team_settings")
