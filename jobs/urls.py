from django.urls import path

from jobs.views import hooks, jobs, projects

urlpatterns = [
    path("", projects.dashboard, name="dashboard"),
    path("projects/new/", projects.upload, name="upload"),
    path("projects/<uuid:project_id>/source/", projects.project_source, name="project_source"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="job_detail"),
    path("stems/<uuid:stem_id>/", jobs.stem_file, name="stem_file"),
    path("hooks/suno/<uuid:job_id>/<str:token>/", hooks.suno_callback, name="suno_callback"),
    path("signed/source/<str:token>/", hooks.signed_source, name="signed_source"),
    path("signed/stem/<str:token>/", hooks.signed_stem, name="signed_stem"),
]
