from django.urls import path

from webhooks import views

urlpatterns = [
    path("team/webhook/", views.team_webhook, name="team_webhook"),
]
