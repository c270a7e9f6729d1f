"""A person in Debian's chromium on the project page (listen, separate again, compare two jobs)
and on the dashboard (a job finishing updates its row without a reload)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import SeparationJob
from jobs.services import StemFile, store_stems
from library.tasks import source_peaks
from providers.stemsets import StemSet
from tests.browser import sign_in
from tests.fixtures import make_finished_job, make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Status = SeparationJob.Status


def _finish(job: SeparationJob, like: SeparationJob, workdir) -> None:
    """What a worker does when ``job`` succeeds, with copies of ``like``'s stems."""
    SeparationJob.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    workdir.mkdir()
    files = [
        StemFile(s.name, Path(shutil.copy(s.file.path, workdir / f"{s.name}.{s.format}")))
        for s in like.stems.all()
    ]
    store_stems(SeparationJob.objects.get(pk=job.pk), files)


def test_listen_separate_again_and_compare_the_two_jobs(
    page, live_server, user, mixture, tmp_path, settings, csp_violations
):
    settings.STEMWEB_PROVIDERS = {
        **settings.STEMWEB_PROVIDERS,
        "camb": {"enabled": True, "api_key": "k"},  # offered; nothing here calls it
    }
    first = make_finished_job(user, mixture, StemSet.VOCALS_INSTRUMENTAL, tmp_path / "a")
    project = first.project
    source_peaks(project.pk)
    sign_in(page, live_server, user)
    page.set_default_timeout(15_000)

    with page.expect_response(lambda r: r.url.endswith("/source/peaks/")) as peaks:
        page.goto(f"{live_server.url}{reverse('project_detail', args=[project.public_id])}")
    assert peaks.value.status == 200  # the waveform is drawn from the stored peaks
    assert page.locator("h1").inner_text() == "Song"
    page.wait_for_function("() => document.querySelector('.player audio').readyState >= 1")
    assert abs(page.locator(".player audio").evaluate("a => a.duration") - 20.0) < 0.05
    page.keyboard.press(" ")  # the player's transport, from the keyboard
    page.wait_for_function("() => document.querySelector('.player audio').currentTime > 0")
    page.keyboard.press(" ")

    # The stem sets follow the provider: CAMB.AI offers foreground/background only.
    vocals = page.locator("#again-stems option[value=vocals_instrumental]")
    page.select_option("#again-provider", "camb")
    assert vocals.get_attribute("disabled") is not None
    assert page.locator("#again-stems").input_value() == "foreground_background"
    page.select_option("#again-provider", "local")
    assert vocals.get_attribute("disabled") is None
    page.select_option("#again-stems", "vocals_instrumental")
    page.get_by_role("button", name="Separate", exact=True).click()

    page.wait_for_selector("text=Queued: Vocals / instrumental with Local engine.")
    again = project.jobs.get(provider="local")
    page.wait_for_selector(f'tr[data-job="{again.pk}"][data-status=queued]')
    assert page.locator("#compare-jobs form").count() == 0  # one finished job: nothing to compare
    page.evaluate("window.__notReloaded = true")

    _finish(again, first, tmp_path / "b")  # a worker's job, done behind the page's back
    page.wait_for_selector(f'tr[data-job="{again.pk}"][data-status=succeeded]')
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped the jobs in place
    assert page.locator("#project-jobs").get_attribute("hx-trigger") is None

    page.click("text=Compare in the mixer")  # A: the new job, B: the first
    page.wait_for_url(re.compile(rf"/jobs/{again.pk}/\?compare={first.pk}$"))
    assert page.locator("[data-action=compare]").input_value() == str(first.pk)
    first_vocals = reverse("stem_file", args=[first.stems.get(name="vocals").public_id])
    audio = page.locator(".track[data-stem=vocals] audio")
    assert audio.get_attribute("src") == first_vocals  # the mixer plays B
    page.select_option("[data-action=compare]", "")
    assert audio.get_attribute("src") == reverse(
        "stem_file", args=[again.stems.get(name="vocals").public_id]
    )
    assert csp_violations == []


def test_a_job_finishing_updates_its_dashboard_row_in_place(
    page, live_server, mixture, csp_violations
):
    user = make_user("rows@example.com")
    running, other = make_job(user, mixture, name="Running"), make_job(user, mixture, name="Other")
    SeparationJob.objects.filter(pk=other.pk).update(status=Status.FAILED, error="no")
    sign_in(page, live_server, user)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/projects/rows/" in r.url else None)

    page.goto(f"{live_server.url}/")
    row = f"#row-{running.project.public_id}"
    page.wait_for_selector(f"{row}[data-status=queued]")
    page.check(f"{row} input[type=checkbox]")  # a selection survives the row's refresh
    page.evaluate("window.__notReloaded = true")

    SeparationJob.objects.filter(pk=running.pk).update(status=Status.RUNNING)
    page.wait_for_selector(f"{row}[data-status=running]", timeout=10_000)
    SeparationJob.objects.filter(pk=running.pk).update(status=Status.SUCCEEDED)
    page.wait_for_selector(f"{row}[data-status=succeeded]", timeout=10_000)
    assert page.locator(f"{row} .badge").inner_text() == "Succeeded"
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator(f"{row} input[type=checkbox]").is_checked()
    assert polls and all(u.endswith(f"?p={running.project.public_id}") for u in polls)
    assert page.locator("#live-rows").get_attribute("hx-trigger") is None

    # None left: htmx polls only from an element in the page whose trigger has "every".
    assert page.locator("[hx-trigger*=every]").count() == 0
    link = page.locator(f"{row} a")
    assert link.get_attribute("href") == reverse("project_detail", args=[running.project.public_id])
    assert csp_violations == []
