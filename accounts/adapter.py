"""allauth hooks: a new user gets a personal team in the same transaction as the sign-up."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction
from django.forms import BaseForm
from django.http import HttpRequest

from accounts.models import User
from accounts.services import team_ensure_personal


class AccountAdapter(DefaultAccountAdapter):
    def save_user(
        self, request: HttpRequest, user: User, form: BaseForm, commit: bool = True
    ) -> User:
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                team_ensure_personal(user=user)
        return user
