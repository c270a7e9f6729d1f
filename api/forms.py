"""The form that makes a personal access token."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from accounts.models import Membership


class MembershipChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return f"{obj.team.name} (you: {obj.get_role_display().lower()})"


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “nightly batch on the studio server”."
    )
    membership = MembershipChoiceField(
        label="Team", queryset=Membership.objects.none(), to_field_name="public_id"
    )
    role = forms.ChoiceField(
        choices=Membership.Role.choices,
        initial=Membership.Role.MEMBER,
        help_text="No higher than yours in that team. Viewers read; members also upload, "
        "start, cancel and delete their own projects; admins delete any project.",
    )

    def __init__(self, *args: Any, memberships: QuerySet[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["membership"]
        assert isinstance(field, MembershipChoiceField)  # declared above
        field.queryset = memberships
