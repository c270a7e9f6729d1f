"""Settings → API tokens: a person's personal access tokens, made (shown once) and revoked."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from accounts.access import AuthenticatedHttpRequest, current_membership, user_memberships
from api.access import token_for_user
from api.forms import TokenForm
from api.models import ApiToken
from api.services import TokenError, token_create, token_revoke


@login_required
def tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's tokens and a form for a new one. A new token's plain value is in this one
    response only: it is never stored, redirected through the session or cached."""
    memberships = user_memberships(request)
    initial = {"membership": current_membership(request).public_id}
    form = TokenForm(request.POST or None, memberships=memberships, initial=initial)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = token_create(
                membership=form.cleaned_data["membership"],
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
            )
        except TokenError as exc:
            form.add_error(None, str(exc))
        else:
            created = {"token": token, "raw": raw}
            form = TokenForm(memberships=memberships, initial=initial)
    rows = ApiToken.objects.filter(membership__user=request.user).select_related("membership__team")
    response = render(
        request,
        "api/tokens.html",
        {"form": form, "tokens": rows, "created": created},
        status=201 if created else 200,
    )
    patch_cache_control(response, no_store=True, private=True)
    return response


@login_required
@require_POST
def token_revoke_view(request: AuthenticatedHttpRequest, token_id: str) -> HttpResponse:
    token = token_for_user(request, token_id)
    if token_revoke(token=token):
        messages.success(request, f"Token “{token.name}” is revoked; it no longer works.")
    return redirect("api_tokens")
