"""Folders and the project listing: tree rules, deletes, moves, bulk actions, query counts."""

from __future__ import annotations

import django_rq
import pytest
from django.urls import reverse

from accounts.models import Membership
from jobs.models import SeparationJob
from jobs.views import listing
from library.models import Folder, Project
from library.services import FolderError, folder_create, folder_move, folder_rename
from library.tasks import source_peaks
from tests.fixtures import make_job, make_project, make_user

pytestmark = pytest.mark.django_db
Role = Membership.Role


@pytest.fixture
def team(user):
    return Membership.objects.get(user=user).team


def test_names_are_unique_among_siblings_only(team):
    mixes = folder_create(team=team, parent=None, name="Mixes")
    with pytest.raises(FolderError, match="already a folder named “mixes” in the top level"):
        folder_create(team=team, parent=None, name="mixes")
    folder_create(team=team, parent=mixes, name="Mixes")  # fine one level down
    drafts = folder_create(team=team, parent=None, name="Drafts")
    with pytest.raises(FolderError):
        folder_rename(folder=drafts, name="MIXES")


def test_a_folder_cannot_move_into_its_own_subtree(team):
    top = folder_create(team=team, parent=None, name="Top")
    mid = folder_create(team=team, parent=top, name="Mid")
    low = folder_create(team=team, parent=mid, name="Low")
    for target in (top, mid, low):
        with pytest.raises(FolderError, match="into itself or its own subfolder"):
            folder_move(folder=top, parent=target)
    assert Folder.objects.get(pk=top.pk).parent is None
    folder_move(folder=low, parent=None)
    assert Folder.objects.get(pk=low.pk).parent is None


def test_the_move_view_refuses_a_subtree_and_says_why(logged_in, team):
    top = folder_create(team=team, parent=None, name="Top")
    child = folder_create(team=team, parent=top, name="Child")
    response = logged_in.post(
        reverse("folder_move", args=[top.public_id]), {"parent": child.public_id}, follow=True
    )
    assert "cannot be moved into itself or its own subfolder" in response.content.decode()
    assert Folder.objects.get(pk=top.pk).parent is None


@pytest.mark.s3
@pytest.mark.django_db(transaction=True)
def test_deleting_a_non_empty_folder_asks_then_removes_its_projects_files(client, mixture, stored):
    owner = make_user("own@example.com")
    team = Membership.objects.get(user=owner).team
    top = folder_create(team=team, parent=None, name="Top")
    inner = folder_create(team=team, parent=top, name="Inner")
    outside = make_project(owner, mixture, "Stays")
    for name, folder in (("A", top), ("B", inner)):
        project = make_project(owner, mixture, name)
        Project.objects.filter(pk=project.pk).update(folder=folder)
    source_peaks(project.pk)  # B's waveform goes too
    client.force_login(owner)
    page = client.get(reverse("folder_delete", args=[top.public_id])).content.decode()
    assert "1 subfolder, 2 projects and 2 files" in page
    client.post(reverse("folder_delete", args=[top.public_id]))  # without confirm: nothing
    assert Folder.objects.filter(pk=top.pk).exists()
    client.post(reverse("folder_delete", args=[top.public_id]), {"confirm": "yes"})
    assert not Folder.objects.filter(pk__in=[top.pk, inner.pk]).exists()
    assert list(Project.objects.values_list("name", flat=True)) == ["Stays"]
    assert stored.basenames() == ["source.flac"]
    assert outside.source.name in str(stored.names()[0])


def test_an_empty_folder_goes_at_once(logged_in, team):
    empty = folder_create(team=team, parent=None, name="Empty")
    logged_in.post(reverse("folder_delete", args=[empty.public_id]))
    assert not Folder.objects.filter(pk=empty.pk).exists()


def test_folder_page_shows_breadcrumbs_tree_and_its_projects(logged_in, user, team, mixture):
    top = folder_create(team=team, parent=None, name="Top")
    inner = folder_create(team=team, parent=top, name="Inner")
    Project.objects.filter(pk=make_project(user, mixture, "Deep take").pk).update(folder=inner)
    make_project(user, mixture, "Loose take")
    page = logged_in.get(reverse("folder_detail", args=[inner.public_id])).content.decode()
    top_link = reverse("folder_detail", args=[top.public_id])
    assert f'<a href="{top_link}">Top</a> / <strong>Inner</strong>' in page
    assert "Deep take" in page and "Loose take" not in page


def test_sort_filter_search_and_paginate(logged_in, user, mixture, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    for name in ("Alpha", "Bravo", "Charlie"):
        make_job(user, mixture, name=name)
    failed = SeparationJob.objects.get(project__name="Bravo")
    failed.mark_failed("no")
    names = lambda html: [n for n in ("Alpha", "Bravo", "Charlie") if f'data-project="{n}"' in html]  # noqa: E731
    assert names(logged_in.get(reverse("dashboard") + "?sort=name").content.decode()) == [
        "Alpha",
        "Bravo",
    ]
    assert names(logged_in.get(reverse("dashboard") + "?sort=name&page=2").content.decode()) == [
        "Charlie"
    ]
    assert names(logged_in.get(reverse("dashboard") + "?status=failed").content.decode()) == [
        "Bravo"
    ]
    assert names(logged_in.get(reverse("dashboard") + "?q=arl").content.decode()) == ["Charlie"]
    assert names(logged_in.get(reverse("dashboard") + "?provider=camb").content.decode()) == []


def test_bulk_move_and_delete_within_the_team(logged_in, user, team, mixture):
    target = folder_create(team=team, parent=None, name="Target")
    a, b = make_project(user, mixture, "A"), make_project(user, mixture, "B")
    logged_in.post(
        reverse("projects_bulk"),
        {"action": "move", "projects": [a.public_id, b.public_id], "folder": target.public_id},
    )
    assert set(Project.objects.filter(folder=target).values_list("name", flat=True)) == {"A", "B"}
    logged_in.post(reverse("projects_bulk"), {"action": "delete", "projects": [a.public_id]})
    assert list(Project.objects.values_list("name", flat=True)) == ["B"]


def test_bulk_actions_refuse_other_teams_projects(logged_in, other_user, mixture):
    theirs = make_project(other_user, mixture, "Theirs")
    response = logged_in.post(
        reverse("projects_bulk"), {"action": "delete", "projects": [theirs.public_id]}
    )
    assert response.status_code == 404 and Project.objects.filter(pk=theirs.pk).exists()


def test_a_member_moves_only_their_own_projects(client, user, team, mixture):
    colleague = make_user("col@example.com")
    Membership.objects.create(team=team, user=colleague, role=Role.MEMBER)
    mine = make_project(user, mixture, "Owner's")
    target = folder_create(team=team, parent=None, name="Target")
    client.force_login(colleague)
    client.post(reverse("team_switch", args=[team.public_id]))
    assert (
        client.post(
            reverse("project_move", args=[mine.public_id]), {"folder": target.public_id}
        ).status_code
        == 403
    )
    assert Project.objects.get(pk=mine.pk).folder is None


@pytest.mark.django_db(transaction=True)
def test_bulk_separation_queues_a_job_per_project(client, mixture):
    owner = make_user("own@example.com")
    projects = [make_project(owner, mixture, n) for n in ("A", "B")]
    client.force_login(owner)
    client.post(
        reverse("projects_bulk"),
        {
            "action": "separate",
            "projects": [p.public_id for p in projects],
            "provider": "local",
            "stem_set": "vocals_instrumental",
        },
    )
    assert SeparationJob.objects.filter(stem_set="vocals_instrumental").count() == 2
    assert django_rq.get_queue("local").count == 2


@pytest.mark.django_db(transaction=True)
def test_a_job_past_the_quota_is_refused_and_nothing_is_queued(client, mixture):
    owner = make_user("own@example.com")
    team = Membership.objects.get(user=owner).team
    team.quota_stem_seconds = 60  # one 20 s two-stem job costs 40
    team.save()
    projects = [make_project(owner, mixture, n) for n in ("A", "B")]
    client.force_login(owner)
    response = client.post(
        reverse("projects_bulk"),
        {
            "action": "separate",
            "projects": [p.public_id for p in projects],
            "provider": "local",
            "stem_set": "foreground_background",
        },
        follow=True,
    )
    assert "Nothing was queued." in response.content.decode()
    refusal = "This job needs 40 stem-seconds, but only 20 of the team&#x27;s 60 monthly"
    assert refusal in response.content.decode()
    assert SeparationJob.objects.count() == 0 and django_rq.get_queue("local").count == 0


def test_the_upload_form_refuses_a_job_past_the_quota_and_keeps_nothing(
    logged_in, team, mixture, stored
):
    team.quota_stem_seconds = 10
    team.save()
    with open(mixture, "rb") as fh:
        page = logged_in.post(
            reverse("upload"),
            {"file": fh, "provider": "local", "stem_set": "foreground_background"},
        ).content.decode()
    assert "This job needs 40 stem-seconds" in page
    assert Project.objects.count() == 0 and stored.names() == []


def _fill(team, user, count, folders):
    Project.objects.bulk_create(
        Project(
            team=team,
            created_by=user,
            name=f"P{i}",
            folder=folders[i % len(folders)] if folders else None,
            source="x.flac",
            container="FLAC",
            duration_s=20,
            sample_rate=44100,
            channels=2,
        )
        for i in range(count)
    )
    SeparationJob.objects.bulk_create(
        SeparationJob(project=p, stem_set="foreground_background")
        for p in Project.objects.filter(team=team)
    )


@pytest.mark.parametrize("count", [10, 500])
def test_the_dashboard_and_a_folder_page_make_a_fixed_number_of_queries(
    logged_in, user, team, count, django_assert_max_num_queries
):
    folders = [folder_create(team=team, parent=None, name=f"F{i}") for i in range(5)]
    _fill(team, user, count, folders)
    with django_assert_max_num_queries(7):
        assert logged_in.get(reverse("dashboard")).status_code == 200
    with django_assert_max_num_queries(9):
        page = logged_in.get(
            reverse("folder_detail", args=[folders[0].public_id]) + "?q=P&sort=status"
        )
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("url_name", "fields"),
    [
        ("projects_bulk", {"action": "delete", "projects": ["not-a-uuid"]}),
        ("projects_bulk", {"action": "move", "projects": [], "back": "42"}),
        ("folder_new", {"name": "Inner", "parent": "../etc"}),
    ],
    ids=["bulk-project-id", "bulk-back-folder", "new-folder-parent"],
)
def test_malformed_ids_in_form_fields_are_404_not_500(logged_in, user, mixture, url_name, fields):
    project = make_project(user, mixture, "Kept")
    response = logged_in.post(reverse(url_name), fields)
    assert response.status_code == 404
    assert Project.objects.filter(pk=project.pk).exists() and not Folder.objects.exists()
