from django.urls import path

from notifications import views

urlpatterns = [
    path("jobs/ended/", views.jobs_ended, name="jobs_ended"),
]
