from django.urls import path

from jobs.views import hooks, jobs, keys, listing, project_page, projects, review, usage

urlpatterns = [
    path("", listing.dashboard, name="dashboard"),
    path("folders/<uuid:folder_id>/", listing.folder_detail, name="folder_detail"),
    path("projects/bulk/", listing.projects_bulk, name="projects_bulk"),
    path("projects/rows/", listing.project_rows, name="project_rows"),
    path("projects/new/", projects.upload, name="upload"),
    path("projects/<uuid:project_id>/", project_page.project_detail, name="project_detail"),
    path(
        "projects/<uuid:project_id>/separate/",
        project_page.project_separate,
        name="project_separate",
    ),
    path(
        "projects/<uuid:project_id>/compare/",
        project_page.project_compare,
        name="project_compare",
    ),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="job_detail"),
    path("jobs/<uuid:job_id>/cancel/", jobs.job_cancel_view, name="job_cancel"),
    path("stems/<uuid:stem_id>/", jobs.stem_file, name="stem_file"),
    path("review/", review.review_queue, name="review_queue"),
    path("review/<uuid:job_id>/", review.review_decide, name="review_decide"),
    path(
        "hooks/<slug:provider>/<uuid:job_id>/<str:token>/",
        hooks.provider_callback,
        name="provider_callback",
    ),
    path("signed/source/<str:token>/", hooks.signed_source, name="signed_source"),
    path("signed/stem/<str:token>/", hooks.signed_stem, name="signed_stem"),
    path("team/keys/", keys.provider_key_set, name="provider_key_set"),
    path("team/keys/<str:provider>/delete/", keys.provider_key_delete, name="provider_key_delete"),
    path("team/usage/", usage.team_usage_page, name="team_usage"),
]
