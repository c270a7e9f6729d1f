from django.urls import path

from api import views
from api.access import API_ROOT
from api.v1 import api

urlpatterns = [
    path(API_ROOT.lstrip("/") + "v1/", api.urls),
    path("settings/tokens/", views.tokens, name="api_tokens"),
    path(
        "settings/tokens/<uuid:token_id>/revoke/", views.token_revoke_view, name="api_token_revoke"
    ),
]
