from django.urls import path

from jobs.views import downloads, folders, hooks, jobs, projects, review

urlpatterns = [
    path("", folders.dashboard, name="dashboard"),
    path("folders/new/", folders.folder_new, name="folder_new"),
    path("folders/<uuid:folder_id>/", folders.folder_detail, name="folder_detail"),
    path("folders/<uuid:folder_id>/rename/", folders.folder_rename_view, name="folder_rename"),
    path("folders/<uuid:folder_id>/move/", folders.folder_move_view, name="folder_move"),
    path("folders/<uuid:folder_id>/camb/", folders.folder_camb, name="folder_camb"),
    path("folders/<uuid:folder_id>/delete/", folders.folder_delete_view, name="folder_delete"),
    path("projects/bulk/", folders.projects_bulk, name="projects_bulk"),
    path("projects/<uuid:project_id>/move/", folders.project_move, name="project_move"),
    path("projects/new/", projects.upload, name="upload"),
    path("projects/<uuid:project_id>/source/", projects.project_source, name="project_source"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="job_detail"),
    path("stems/<uuid:stem_id>/", jobs.stem_file, name="stem_file"),
    path("stems/<uuid:stem_id>/download/<str:fmt>/", downloads.stem_download, name="stem_download"),
    path("stems/<uuid:stem_id>/peaks/", downloads.stem_peaks, name="stem_peaks"),
    path("jobs/<uuid:job_id>/zip/<str:fmt>/", downloads.job_zip, name="job_zip"),
    path("jobs/<uuid:job_id>/mixes/", downloads.mix_new, name="mix_new"),
    path("mixes/<uuid:mix_id>/", downloads.mix_download, name="mix_download"),
    path("review/", review.review_queue, name="review_queue"),
    path("review/<uuid:job_id>/", review.review_decide, name="review_decide"),
    path("hooks/suno/<uuid:job_id>/<str:token>/", hooks.suno_callback, name="suno_callback"),
    path("signed/source/<str:token>/", hooks.signed_source, name="signed_source"),
    path("signed/stem/<str:token>/", hooks.signed_stem, name="signed_stem"),
]
