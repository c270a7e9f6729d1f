"""Sign-up, login, email confirmation and password reset through django-allauth."""

from __future__ import annotations

import html
import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, User

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _sign_up(client, email="grace@example.com"):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


def test_sign_up_creates_the_user_and_a_personal_team_they_own(client):
    response = _sign_up(client)
    assert response.status_code == 302
    user = User.objects.get(email="grace@example.com")
    membership = Membership.objects.select_related("team").get(user=user)
    assert membership.role == Membership.Role.OWNER and membership.team.is_personal
    assert membership.team.name == "grace's team"
    assert "grace's team" in html.unescape(client.get(reverse("dashboard")).content.decode())


def test_sign_up_sends_a_confirmation_link_that_verifies_the_address(client):
    _sign_up(client)
    assert len(mail.outbox) == 1 and "grace@example.com" in mail.outbox[0].to
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    assert client.post(path).status_code == 302
    assert User.objects.get().emailaddress_set.get().verified


def test_login_is_by_email(client):
    User.objects.create_user(email="ada@example.com", password=PASSWORD)
    response = client.post(
        reverse("account_login"), {"login": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    client.logout()
    wrong = client.post(reverse("account_login"), {"login": "ada@example.com", "password": "nope"})
    assert "not correct" in wrong.content.decode()


def test_password_reset_mails_a_link(client):
    User.objects.create_user(email="ada@example.com", password=PASSWORD)
    client.post(reverse("account_reset_password"), {"email": "ada@example.com"})
    assert len(mail.outbox) == 1 and "/accounts/password/reset/key/" in mail.outbox[0].body


def test_a_superuser_without_sign_up_still_gets_a_team(client):
    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client.force_login(admin)
    assert client.get(reverse("dashboard")).status_code == 200
    assert Membership.objects.get(user=admin).role == Membership.Role.OWNER


def test_logout_ends_the_session(client):
    user = User.objects.create_user(email="ada@example.com", password=PASSWORD)
    client.force_login(user)
    assert client.post(reverse("account_logout")).status_code == 302
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))
