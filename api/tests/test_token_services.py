"""Personal access tokens: made with a role no higher than the owner's, stored only as a digest,
revocable, acting with the lower of their role and the owner's current one."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import Membership
from accounts.services import membership_remove
from api.access import caller_for
from api.models import ApiToken
from api.services import TokenError, token_create, token_revoke, token_touch
from tests.fixtures import make_token, make_user

pytestmark = pytest.mark.django_db
Role = Membership.Role


def _caller(raw: str):
    return caller_for(RequestFactory().get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {raw}"))


def test_only_the_sha256_of_the_token_is_stored(user):
    membership = Membership.objects.get(user=user)
    token, raw = token_create(membership=membership, name="batch", role=Role.MEMBER)
    assert raw.startswith("stw_") and len(raw) == 4 + 43  # 256 random bits, URL-safe
    row = ApiToken.objects.get(pk=token.pk)
    assert row.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {row.digest, row.prefix, row.name}
    assert row.prefix == raw[:12] and raw.startswith(row.prefix)
    stored = [str(v) for v in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert not any(raw in value for value in stored)


def test_two_tokens_never_share_a_value(user):
    raws = {make_token(user) for _ in range(20)}
    assert len(raws) == 20


def test_a_token_cannot_have_a_role_above_its_owners(user):
    membership = Membership.objects.get(user=user)
    Membership.objects.filter(pk=membership.pk).update(role=Role.MEMBER)
    membership.refresh_from_db()
    with pytest.raises(TokenError, match="cannot have a higher role than yours"):
        token_create(membership=membership, name="too much", role=Role.ADMIN)
    with pytest.raises(TokenError, match="name"):
        token_create(membership=membership, name="  ", role=Role.VIEWER)
    assert ApiToken.objects.count() == 0


def test_a_token_acts_with_the_lower_of_its_role_and_its_owners_current_role(user):
    raw = make_token(user, role=Role.ADMIN)  # the owner of a personal team
    assert _caller(raw).membership.role == Role.ADMIN
    Membership.objects.filter(user=user).update(role=Role.VIEWER)
    caller = _caller(raw)
    assert caller.membership.role == Role.VIEWER
    assert caller.membership.pk is None  # built in memory, never saved
    assert Membership.objects.get(user=user).role == Role.VIEWER


def test_a_revoked_token_an_unknown_one_and_a_removed_members_do_not_authenticate(user):
    raw = make_token(user)
    assert _caller(raw) is not None
    assert _caller(raw + "x") is None
    assert _caller("") is None
    token = ApiToken.objects.get()
    assert token_revoke(token=token) is True
    assert token_revoke(token=token) is False
    assert _caller(raw) is None

    team = Membership.objects.get(user=user).team
    colleague = make_user("col@example.com")
    membership = Membership.objects.create(team=team, user=colleague, role=Role.MEMBER)
    colleagues = make_token(colleague, team=team)
    assert _caller(colleagues).membership.team == team
    membership_remove(membership=membership)
    assert _caller(colleagues) is None
    assert not ApiToken.objects.filter(membership=membership).exists()


def test_an_inactive_users_token_does_not_authenticate(user):
    raw = make_token(user)
    user.is_active = False
    user.save()
    assert _caller(raw) is None


def test_last_used_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    make_token(user)
    token = ApiToken.objects.get()
    other = ApiToken.objects.get()  # a concurrent request's copy, read before the first use
    assert token.last_used_at is None
    with django_assert_num_queries(1):
        token_touch(token=token)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with django_assert_num_queries(0):  # known to be fresh: no query at all
        token_touch(token=token)
    with django_assert_num_queries(1):  # the conditional update finds nothing to write
        token_touch(token=other)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(seconds=61))
    token_touch(token=ApiToken.objects.get())
    assert ApiToken.objects.get().last_used_at > first
