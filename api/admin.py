from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiToken
from api.services import token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see who holds which token and when it was used; never its digest. Tokens are made
    by their owners only (the plain token is shown once, to them); staff can revoke them."""

    fields = ("name", "owner", "team", "role", "prefix", "created", "last_used_at", "revoked_at")
    list_display = fields
    list_filter = ["role", "revoked_at"]
    search_fields = ["name", "prefix", "membership__user__email", "membership__team__name"]
    list_select_related = ["membership__user", "membership__team"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(ordering="membership__user__email")
    def owner(self, token: ApiToken) -> str:
        return str(token.membership.user)

    @admin.display(ordering="membership__team__name")
    def team(self, token: ApiToken) -> str:
        return str(token.membership.team)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(token_revoke(token=token) for token in queryset)
        self.message_user(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.")
