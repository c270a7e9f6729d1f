"""Settings → API tokens: make a token (shown once), see them with their last use, revoke one;
and the admin, which never shows a digest."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Membership, Team
from api.models import ApiToken
from tests.fixtures import make_token, make_user

pytestmark = pytest.mark.django_db
Role = Membership.Role


def _create(client, membership: Membership, name="laptop", role=Role.MEMBER):
    return client.post(
        reverse("api_tokens"),
        {"name": name, "membership": membership.public_id, "role": role},
    )


def test_the_header_links_to_the_token_page(logged_in):
    page = logged_in.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("api_tokens")}"' in page


def test_a_new_token_is_shown_once_and_only_its_prefix_after(logged_in, user):
    membership = Membership.objects.get(user=user)
    response = _create(logged_in, membership)
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    shown = re.search(r'<code class="secret" id="new-token">(stw_[\w-]+)</code>', page)
    assert shown is not None
    raw = shown.group(1)
    token = ApiToken.objects.get()
    assert token.name == "laptop" and token.role == Role.MEMBER
    assert token.membership == membership and token.digest != raw
    later = logged_in.get(reverse("api_tokens")).content.decode()
    assert raw not in later
    assert f"{token.prefix}…" in later and "never" in later  # not used yet


def test_a_token_above_ones_own_role_is_refused_with_a_message(client, user):
    team = Team.objects.create(name="Label")
    Membership.objects.create(team=team, user=user, role=Role.VIEWER)
    client.force_login(user)
    response = _create(client, Membership.objects.get(user=user, team=team), role=Role.MEMBER)
    assert response.status_code == 200
    assert "cannot have a higher role than yours (viewer) in Label" in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_another_users_membership_cannot_be_chosen(logged_in, other_user):
    response = _create(logged_in, Membership.objects.get(user=other_user))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_revoking_marks_the_token_and_someone_elses_is_404(logged_in, user, other_user):
    make_token(user)
    mine = ApiToken.objects.get()
    make_token(other_user)
    theirs = ApiToken.objects.exclude(pk=mine.pk).get()
    response = logged_in.post(reverse("api_token_revoke", args=[mine.public_id]))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    assert "revoked" in logged_in.get(reverse("api_tokens")).content.decode()
    assert logged_in.post(reverse("api_token_revoke", args=[theirs.public_id])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_the_page_needs_a_login(client):
    response = client.get(reverse("api_tokens"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_staff_see_owner_team_and_last_use_in_the_admin_but_never_the_digest(client, user):
    make_token(user, name="nightly")
    token = ApiToken.objects.get()
    staff = make_user("staff@example.com")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    listing = client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    assert "nightly" in listing and user.email in listing and token.prefix in listing
    detail = client.get(reverse("admin:api_apitoken_change", args=[token.pk])).content.decode()
    assert user.email in detail
    for page in (listing, detail):
        assert token.digest not in page
    assert client.get(reverse("admin:api_apitoken_add")).status_code == 403
