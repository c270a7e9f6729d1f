"""Invitations: accept, expired, reused, revoked, wrong email, forged; sign-up through the link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Team
from accounts.services import invitation_token
from tests.fixtures import make_user

pytestmark = pytest.mark.django_db
Role = Membership.Role


@pytest.fixture
def invitation(user):
    band = Team.objects.create(name="Band")
    Membership.objects.create(team=band, user=user, role=Role.OWNER)
    return Invitation.objects.create(
        team=band,
        email="cy@example.com",
        role=Role.MEMBER,
        invited_by=user,
        expires=timezone.now() + timedelta(days=7),
    )


def _url(invitation):
    return reverse("invitation_accept", args=[invitation_token(invitation)])


def _joined(invitation, person):
    return Membership.objects.filter(team=invitation.team, user=person).exists()


def test_accepting_joins_with_the_invited_role_once(client, invitation):
    guest = make_user("cy@example.com")
    client.force_login(guest)
    assert client.post(_url(invitation)).status_code == 302
    assert Membership.objects.get(team=invitation.team, user=guest).role == Role.MEMBER
    other = make_user("dee@example.com")
    client.force_login(other)
    page = client.post(_url(invitation)).content.decode()
    assert "already been used" in page and not _joined(invitation, other)


def test_an_expired_invitation_is_refused(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(
        expires=timezone.now() - timedelta(minutes=1)
    )
    guest = make_user("cy@example.com")
    client.force_login(guest)
    response = client.post(_url(invitation))
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert not _joined(invitation, guest)


def test_a_revoked_invitation_is_refused(client, user, invitation):
    client.force_login(user)
    client.post(reverse("team_switch", args=[invitation.team.public_id]))
    client.post(reverse("invitation_revoke", args=[invitation.public_id]))
    guest = make_user("cy@example.com")
    client.force_login(guest)
    assert "revoked" in client.post(_url(invitation)).content.decode()
    assert not _joined(invitation, guest)


def test_the_wrong_account_cannot_use_it(client, invitation):
    intruder = make_user("mallory@example.com")
    client.force_login(intruder)
    page = client.post(_url(invitation)).content.decode()
    assert (
        "This invitation is for cy@example.com; you are logged in as mallory@example.com." in page
    )
    assert not _joined(invitation, intruder)
    assert Invitation.objects.get(pk=invitation.pk).accepted is None


def test_a_forged_token_is_404(client, invitation):
    token = invitation_token(invitation)
    assert client.get(reverse("invitation_accept", args=[token[:-2] + "xx"])).status_code == 404


def test_a_newcomer_signs_up_through_the_link_and_joins(client, invitation):
    page = client.get(_url(invitation)).content.decode()
    assert "Sign up" in page and "as cy@example.com" in page
    client.post(
        reverse("account_signup") + f"?next={_url(invitation)}",
        {
            "email": "cy@example.com",
            "password1": "a long passphrase 77",
            "password2": "a long passphrase 77",
        },
    )
    assert client.post(_url(invitation)).status_code == 302
    assert (
        Membership.objects.get(team=invitation.team, user__email="cy@example.com").role
        == Role.MEMBER
    )
