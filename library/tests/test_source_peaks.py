"""The waveform of a project's source: a worker computes it once, beside the source, in the
format of stems' peaks; asking again is harmless, and it leaves with the project."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.db import transaction
from django.urls import reverse
from rq.job import Job as RQJob

from audio.analysis import BUCKETS, waveform_peaks
from audio.probe import probe
from jobs.services import source_peaks_request
from library.models import Project
from library.services import project_store_source_peaks
from library.tasks import source_peaks
from tests.fixtures import make_project

pytestmark = pytest.mark.django_db


@pytest.mark.s3
def test_the_task_stores_the_sources_peaks_beside_it_once(logged_in, user, mixture, stored):
    project = make_project(user, mixture)
    url = reverse("project_source_peaks", args=[project.public_id])
    assert logged_in.get(url).status_code == 404  # not computed yet

    source_peaks(project.pk)

    project.refresh_from_db()
    folder = f"projects/{project.public_id}"
    assert stored.names() == [f"{folder}/source.flac", f"{folder}/source.peaks.json"]
    assert project.source_peaks.name == f"{folder}/source.peaks.json"
    served = logged_in.get(url)
    assert served.status_code == 200 and "private" in served["Cache-Control"]
    document = served.json()
    assert document == json.loads(stored.read(project.source_peaks.name))
    assert document["buckets"] == BUCKETS and document["duration_s"] == pytest.approx(20.0)
    assert document["peaks"] == waveform_peaks(mixture, probe(mixture))
    assert 0.1 < max(document["peaks"]) <= 1

    assert project_store_source_peaks(project_id=project.pk) is False  # a duplicate delivery
    assert len(stored.names()) == 2


def test_a_project_gone_or_without_a_source_is_left_alone(user, mixture, stored):
    track = Project.objects.create(team=user.memberships.get().team, name="On the platform")
    assert project_store_source_peaks(project_id=track.pk) is False
    assert project_store_source_peaks(project_id=track.pk + 1000) is False
    assert stored.names() == []


@pytest.mark.django_db(transaction=True)
def test_asking_again_queues_one_task_and_none_after_it_failed(user, mixture):
    project = make_project(user, mixture)
    queue = django_rq.get_queue("local")
    with transaction.atomic():
        source_peaks_request(project)
        source_peaks_request(project)  # each is checked when the transaction commits
    source_peaks_request(project)  # RQ holds it, queued
    assert queue.job_ids == [f"source-peaks-{project.pk}"]

    rq_job = RQJob.fetch(f"source-peaks-{project.pk}", connection=queue.connection)
    queue.remove(rq_job)
    rq_job.set_status("failed")
    source_peaks_request(project)  # RQ keeps a failed task for staff: not retried per view
    assert queue.job_ids == []

    rq_job.delete()  # lost (Redis restarted empty): asked again, queued again
    source_peaks_request(project)
    assert queue.job_ids == [f"source-peaks-{project.pk}"]
