"""Per-team provider keys: encrypted at rest, never shown again, and used instead of the site's."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Membership, ProviderKey
from accounts.services import provider_key_set
from jobs.models import JobEvent, SeparationJob
from jobs.services import job_create
from providers.stemsets import StemSet
from tests.fixtures import make_project, make_user
from tests.workers import SANDBOX_KEY, drain

SECRET = "camb-live-key-7f3a9c2e"


def test_a_saved_key_is_encrypted_and_only_its_last_four_are_shown(logged_in, user, db):
    logged_in.post(reverse("provider_key_set"), {"provider": "camb", "api_key": SECRET})
    stored = ProviderKey.objects.get()
    assert stored.last4 == "9c2e" and stored.reveal() == SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT key_encrypted FROM accounts_providerkey")
        (raw,) = cursor.fetchone()
    assert SECRET not in raw and raw.startswith("gAAAA")  # a Fernet token
    page = logged_in.get(reverse("team_settings")).content.decode()
    assert "••••9c2e" in page and SECRET not in page


def test_a_key_is_never_echoed_into_the_form(logged_in, db):
    logged_in.post(reverse("provider_key_set"), {"provider": "camb", "api_key": SECRET})
    page = logged_in.get(reverse("team_settings")).content.decode()
    assert 'type="password"' in page and f'value="{SECRET}"' not in page


@pytest.mark.django_db(transaction=True)
def test_the_team_key_overrides_the_sites(providers, settings, mixture):
    settings.STEMWEB_PROVIDERS["camb"]["api_key"] = "the-site-key-is-wrong"
    owner = make_user("own@example.com")
    team = Membership.objects.get(user=owner).team
    other = make_user("other@example.com")

    provider_key_set(team=team, provider="camb", key=SANDBOX_KEY, user=owner)
    ours = drain(
        job_create(
            project=make_project(owner, mixture),
            user=owner,
            provider_key="camb",
            stem_set=StemSet.FOREGROUND_BACKGROUND,
        )
    )
    theirs = drain(
        job_create(
            project=make_project(other, mixture),
            user=other,
            provider_key="camb",
            stem_set=StemSet.FOREGROUND_BACKGROUND,
        )
    )
    assert ours.status == SeparationJob.Status.SUCCEEDED, ours.error
    assert theirs.status == SeparationJob.Status.FAILED and "refused the API key" in theirs.error
    assert not JobEvent.objects.filter(excerpt__contains=SANDBOX_KEY).exists()


@pytest.mark.django_db
def test_a_team_key_alone_makes_a_provider_available_to_that_team_only(client, settings):
    settings.STEMWEB_PROVIDERS = {
        **settings.STEMWEB_PROVIDERS,
        "camb": {
            "api_key": "",
            "enabled": True,
            "base_url": "http://x",
            "poll_s": 5,
            "deadline_s": 60,
        },
    }
    owner, stranger = make_user("own@example.com"), make_user("str@example.com")
    provider_key_set(
        team=Membership.objects.get(user=owner).team, provider="camb", key=SECRET, user=owner
    )
    client.force_login(owner)
    assert 'value="camb"' in client.get(reverse("upload")).content.decode()
    client.force_login(stranger)
    assert 'value="camb"' not in client.get(reverse("upload")).content.decode()
