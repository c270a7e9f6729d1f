"""Settings: the person's notifications (an email when a job they started ends), linked from the
header beside their API tokens."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_header_links_to_the_settings_and_the_token_pages(logged_in):
    page = logged_in.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("user_settings")}"' in page
    assert f'href="{reverse("api_tokens")}"' in page


def test_the_email_is_off_until_turned_on_and_saved_for_that_person_only(
    logged_in, user, other_user
):
    page = logged_in.get(reverse("user_settings"))
    assert page.status_code == 200
    assert "Email me when a job I started ends" in page.content.decode()
    assert 'name="email_when_job_ends"' in page.content.decode()
    assert not User.objects.get(pk=user.pk).email_when_job_ends

    response = logged_in.post(reverse("user_settings"), {"email_when_job_ends": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("user_settings")
    assert User.objects.get(pk=user.pk).email_when_job_ends
    assert not User.objects.get(pk=other_user.pk).email_when_job_ends
    shown = logged_in.get(reverse("user_settings")).content.decode()
    assert "Saved: an email when a job you started ends." in shown
    assert 'name="email_when_job_ends" id="id_email_when_job_ends" checked' in shown


def test_an_unticked_box_turns_the_email_off(logged_in, user):
    User.objects.filter(pk=user.pk).update(email_when_job_ends=True)
    logged_in.post(reverse("user_settings"), {})
    assert not User.objects.get(pk=user.pk).email_when_job_ends


def test_the_settings_page_needs_a_login(client, user):
    response = client.get(reverse("user_settings"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert client.post(reverse("user_settings"), {"email_when_job_ends": "on"}).status_code == 302
    assert not User.objects.filter(email_when_job_ends=True).exists()
