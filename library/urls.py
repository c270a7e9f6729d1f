from django.urls import path

from library import views

urlpatterns = [
    path("folders/new/", views.folder_new, name="folder_new"),
    path("folders/<uuid:folder_id>/rename/", views.folder_rename_view, name="folder_rename"),
    path("folders/<uuid:folder_id>/move/", views.folder_move_view, name="folder_move"),
    path("folders/<uuid:folder_id>/camb/", views.folder_camb, name="folder_camb"),
    path("folders/<uuid:folder_id>/delete/", views.folder_delete_view, name="folder_delete"),
    path("projects/<uuid:project_id>/rename/", views.project_rename_view, name="project_rename"),
    path("projects/<uuid:project_id>/move/", views.project_move, name="project_move"),
    path("projects/<uuid:project_id>/delete/", views.project_delete_view, name="project_delete"),
    path("projects/<uuid:project_id>/source/", views.project_source, name="project_source"),
    path(
        "projects/<uuid:project_id>/source/peaks/",
        views.project_source_peaks,
        name="project_source_peaks",
    ),
    path("team/delete/", views.team_delete_view, name="team_delete"),
]
