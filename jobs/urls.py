from django.urls import path

from jobs.views import jobs, projects

urlpatterns = [
    path("", projects.dashboard, name="dashboard"),
    path("projects/new/", projects.upload, name="upload"),
    path("projects/<uuid:project_id>/source/", projects.project_source, name="project_source"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="job_detail"),
    path("stems/<uuid:stem_id>/", jobs.stem_file, name="stem_file"),
]
