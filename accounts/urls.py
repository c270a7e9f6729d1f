from django.urls import path

from accounts import views

urlpatterns = [
    path("team/settings/", views.team_settings, name="team_settings"),
]
