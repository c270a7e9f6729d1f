from django.urls import path

from api import views

urlpatterns = [
    path("settings/tokens/", views.tokens, name="api_tokens"),
    path(
        "settings/tokens/<uuid:token_id>/revoke/", views.token_revoke_view, name="api_token_revoke"
    ),
]
