from django.urls import path

from downloads import views

urlpatterns = [
    path("stems/<uuid:stem_id>/download/<str:fmt>/", views.stem_download, name="stem_download"),
    path("stems/<uuid:stem_id>/peaks/", views.stem_peaks, name="stem_peaks"),
    path("jobs/<uuid:job_id>/zip/<str:fmt>/", views.job_zip, name="job_zip"),
    path("jobs/<uuid:job_id>/mixes/", views.mix_new, name="mix_new"),
    path("mixes/<uuid:mix_id>/", views.mix_download, name="mix_download"),
]
