from django.urls import path

from accounts import views

urlpatterns = [
    path("settings/", views.user_settings, name="user_settings"),
    path("teams/", views.teams, name="teams"),
    path("teams/<uuid:team_id>/switch/", views.team_switch, name="team_switch"),
    path("team/settings/", views.team_settings, name="team_settings"),
    path("team/rename/", views.team_rename, name="team_rename"),
    path("team/quota/", views.team_quota, name="team_quota"),
    path("team/invitations/", views.invitation_create, name="invitation_create"),
    path(
        "team/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("team/members/<uuid:membership_id>/role/", views.member_role, name="member_role"),
    path("team/members/<uuid:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("team/members/<uuid:membership_id>/transfer/", views.team_transfer, name="team_transfer"),
    path("team/leave/", views.team_leave, name="team_leave"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
