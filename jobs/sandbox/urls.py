"""The sandbox's URLconf: CAMB under /camb/apis/, FineVoice under /finevoice/, Suno-style under
/suno/, result files under /files/."""

from django.urls import path

from jobs.sandbox import camb, common, finevoice, suno

urlpatterns = [
    path("camb/apis/audio-separation", camb.create),
    path("camb/apis/audio-separation/<str:task_id>", camb.status),
    path("camb/apis/audio-separation-result/<int:run_id>", camb.result),
    path("camb/apis/folders", camb.folders),
    path("camb/apis/folders/<str:action>", camb.folders),
    path("finevoice/v1/audio/separation", finevoice.separate),
    path("finevoice/v1/task/<str:task_id>", finevoice.task_status),
    path("suno/api/v1/vocal-removal/generate", suno.generate),
    path("suno/api/v1/vocal-removal/record-info", suno.record_info),
    path("files/<str:task_id>/<str:name>.flac", common.serve_file),
]
