"""Teams: switching, settings, leaving, transferring, deleting, and the role matrix."""

from __future__ import annotations

import html

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Invitation, Membership, ProviderKey, Team
from jobs.models import SeparationJob
from library.models import Folder, Project
from tests.fixtures import make_job, make_project, make_user

pytestmark = pytest.mark.django_db
Role = Membership.Role


@pytest.fixture
def team(user):
    shared = Team.objects.create(name="Band")
    Membership.objects.create(team=shared, user=user, role=Role.OWNER)
    return shared


def _member(team, email, role):
    person = make_user(email)
    Membership.objects.create(team=team, user=person, role=role)
    return person


def _work_in(client, person, team):
    client.force_login(person)
    client.post(reverse("team_switch", args=[team.public_id]))


def test_creating_a_team_switches_to_it_and_the_header_says_so(logged_in, user):
    response = logged_in.post(reverse("teams"), {"name": "Night shift"})
    assert response.status_code == 302
    team = Team.objects.get(name="Night shift")
    assert Membership.objects.get(team=team, user=user).role == Role.OWNER
    page = html.unescape(logged_in.get(reverse("dashboard")).content.decode())
    assert 'title="Current team: switch">Night shift</a>' in page


def test_switching_shows_that_teams_projects(client, user, team, mixture):
    make_project(user, mixture, "Personal take")  # in the personal team
    Project.objects.create(
        team=team, name="Band take", source="x.flac", duration_s=3, sample_rate=44100, channels=2
    )
    _work_in(client, user, team)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Band take" in page and "Personal take" not in page


def test_switching_to_a_team_one_is_not_in_is_404(client, user, other_user):
    foreign = Membership.objects.get(user=other_user).team
    client.force_login(user)
    assert client.post(reverse("team_switch", args=[foreign.public_id])).status_code == 404


def test_the_last_owner_cannot_leave_but_can_after_a_transfer(client, user, team):
    partner = _member(team, "bo@example.com", Role.MEMBER)
    _work_in(client, user, team)
    client.post(reverse("team_leave"))
    assert Membership.objects.filter(team=team, user=user).exists()
    partner_membership = Membership.objects.get(team=team, user=partner)
    client.post(reverse("team_transfer", args=[partner_membership.public_id]))
    assert Membership.objects.get(team=team, user=partner).role == Role.OWNER
    assert Membership.objects.get(team=team, user=user).role == Role.ADMIN
    client.post(reverse("team_leave"))
    assert not Membership.objects.filter(team=team, user=user).exists()


def test_roles_never_make_owners(client, user, team):
    member = _member(team, "bo@example.com", Role.MEMBER)
    _work_in(client, user, team)
    target = Membership.objects.get(team=team, user=member)
    client.post(reverse("member_role", args=[target.public_id]), {"role": "owner"})
    assert Membership.objects.get(pk=target.pk).role == Role.MEMBER


def test_deleting_a_team_needs_its_name_and_deletes_its_projects(
    client, user, team, mixture, stored
):
    project = make_project(user, mixture)
    Project.objects.filter(pk=project.pk).update(team=team)
    _work_in(client, user, team)
    page = client.get(reverse("team_delete")).content.decode()
    assert "1 project and 1 file" in page
    client.post(reverse("team_delete"), {"confirm": "wrong"})
    assert Team.objects.filter(pk=team.pk).exists()
    client.post(reverse("team_delete"), {"confirm": "Band"})
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not Project.objects.filter(pk=project.pk).exists()


@pytest.mark.s3
@pytest.mark.django_db(transaction=True)
def test_deleted_team_files_leave_storage(client, mixture, stored):
    owner = make_user("own@example.com")
    band = Team.objects.create(name="Band")
    Membership.objects.create(team=band, user=owner, role=Role.OWNER)
    project = make_project(owner, mixture)
    Project.objects.filter(pk=project.pk).update(team=band)
    assert stored.names()
    _work_in(client, owner, band)
    client.post(reverse("team_delete"), {"confirm": "Band"})
    assert stored.names() == []


# The role matrix: each role tried on each action; allowed (2xx/3xx and the change made) or 403.
ACTIONS = {
    # name: (minimum role, request maker, check that the change happened)
    "upload page": (Role.MEMBER, lambda c, t: c.get(reverse("upload")), None),
    "rename team": (
        Role.ADMIN,
        lambda c, t: c.post(reverse("team_rename"), {"name": "Renamed"}),
        lambda t: Team.objects.get(pk=t.pk).name == "Renamed",
    ),
    "create folder": (
        Role.ADMIN,
        lambda c, t: c.post(reverse("folder_new"), {"name": "Mixes"}),
        lambda t: Folder.objects.filter(team=t, name="Mixes").exists(),
    ),
    "invite": (
        Role.ADMIN,
        lambda c, t: c.post(
            reverse("invitation_create"), {"email": "new@example.com", "role": "member"}
        ),
        lambda t: Invitation.objects.filter(team=t, email="new@example.com").exists(),
    ),
    "provider key": (
        Role.ADMIN,
        lambda c, t: c.post(reverse("provider_key_set"), {"provider": "camb", "api_key": "k" * 20}),
        lambda t: ProviderKey.objects.filter(team=t).exists(),
    ),
    "webhook": (
        Role.ADMIN,
        lambda c, t: c.post(reverse("team_webhook"), {"webhook_url": "https://example.com/h"}),
        lambda t: Team.objects.get(pk=t.pk).webhook_url == "https://example.com/h",
    ),
    "quota": (
        Role.ADMIN,
        lambda c, t: c.post(reverse("team_quota"), {"quota_credits": "100"}),
        lambda t: Team.objects.get(pk=t.pk).quota_credits == 100,
    ),
    "delete team": (
        Role.OWNER,
        lambda c, t: c.post(reverse("team_delete"), {"confirm": "Band"}),
        lambda t: not Team.objects.filter(pk=t.pk).exists(),
    ),
}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER])
@pytest.mark.parametrize("action", ACTIONS)
def test_role_matrix(client, user, role, action):
    band = Team.objects.create(name="Band")
    person = make_user(f"{role}@example.com")
    Membership.objects.create(team=band, user=user, role=Role.OWNER)
    if role != Role.OWNER:
        Membership.objects.create(team=band, user=person, role=role)
    else:
        person = user
    _work_in(client, person, band)
    minimum, send, changed = ACTIONS[action]
    allowed = Membership.RANK[role] >= Membership.RANK[minimum]
    response = send(client, band)
    if allowed:
        assert response.status_code in {200, 302}, response.status_code
        if changed:
            assert changed(band)
    else:
        assert response.status_code == 403
        if changed:
            assert not changed(band)


def test_an_invitation_mail_carries_a_working_link(
    client, user, team, django_capture_on_commit_callbacks
):
    _work_in(client, user, team)
    client.post(reverse("invitation_create"), {"email": "Cy@Example.com", "role": "viewer"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["cy@example.com"]
    assert "Band" in mail.outbox[0].subject
    link = next(w for w in mail.outbox[0].body.split() if "/invitations/" in w)
    guest = make_user("cy@example.com")
    client.force_login(guest)
    path = link.split("testserver", 1)[1]
    assert "Join Band" in client.get(path).content.decode()
    assert client.post(path).status_code == 302
    assert Membership.objects.get(team=team, user=guest).role == Role.VIEWER


def test_the_usage_page_counts_this_months_jobs_in_their_units(logged_in, user, mixture):
    make_job(user, mixture, name="Counted")  # 20 s x 2 stems = 40 stem-seconds, queued
    make_job(user, mixture, name="Failed").mark_failed("no")  # not counted
    team = Membership.objects.get(user=user).team
    team.quota_stem_seconds = 600
    team.save()
    assert SeparationJob.objects.get(project__name="Counted").cost == pytest.approx(40.0)
    page = logged_in.get(reverse("team_usage")).content.decode()
    assert "<td>Stem-seconds</td><td>40</td><td>600</td>" in page
    assert "<td>Local engine</td><td>2</td><td>40 stem-seconds</td>" in page


def test_a_role_outside_the_four_is_refused_and_the_member_keeps_theirs(client, user, team):
    member = _member(team, "cy@example.com", Role.MEMBER)
    _work_in(client, user, team)
    target = Membership.objects.get(team=team, user=member)
    response = client.post(
        reverse("member_role", args=[target.public_id]), {"role": "superuser"}, follow=True
    )
    assert response.status_code == 200
    assert "“superuser” is not a role" in response.content.decode()
    assert Membership.objects.get(pk=target.pk).role == Role.MEMBER
