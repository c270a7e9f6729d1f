"""The upload page in Debian's chromium: several files at once into the folder it was opened
from, each with its progress and verdict, and stem sets that follow the chosen provider."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from jobs.models import SeparationJob
from library.models import Project
from library.services import folder_create
from tests.browser import choose_files, sign_in
from tests.fixtures import DEV01

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page, live_server, user):
    """The page with ``user``'s session cookie."""
    sign_in(page, live_server, user)
    page.set_default_timeout(30_000)
    return page


def test_several_files_upload_with_progress_into_the_folder_and_one_is_refused(
    signed_in, live_server, user, dev_dir, bad_dir, csp_violations
):
    page = signed_in
    team = Membership.objects.get(user=user).team
    album = folder_create(team=team, parent=None, name="Album")
    page.goto(f"{live_server.url}/folders/{album.public_id}/")
    page.click("text=Upload into Album")
    assert page.locator("select[name=folder]").input_value() == str(album.public_id)
    # Slow the upload down (about 2 s for a 1.6 MB file) so its progress can be watched.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 800_000},
    )
    files = [
        str(dev_dir / DEV01 / "mixture.flac"),
        str(bad_dir / "text_renamed.mp3"),
        str(dev_dir / DEV01 / "mixture.mp3"),
    ]
    choose_files(page, files)
    page.check("input[value=vocals_instrumental]")
    page.click("main button[type=submit]")
    rows = page.locator(".upload-row")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.upload-row progress')]"
        ".some(p => p.value > 0 && p.value < 100)"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('.upload-row[data-outcome]').length === 3"
    )
    assert rows.locator(".upload-name").all_inner_texts() == [
        "mixture.flac",
        "text_renamed.mp3",
        "mixture.mp3",
    ]
    assert rows.locator("progress").evaluate_all("ps => ps.map(p => p.value)") == [100] * 3
    assert rows.locator(".upload-state").all_inner_texts() == ["Queued", "Refused", "Queued"]
    assert "not an audio file" in rows.nth(1).inner_text()
    jobs = list(SeparationJob.objects.order_by("project__pk"))  # ids are random UUIDs
    assert [j.project.original_filename for j in jobs] == ["mixture.flac", "mixture.mp3"]
    assert {j.stem_set for j in jobs} == {"vocals_instrumental"}
    assert set(Project.objects.values_list("folder", flat=True)) == {album.pk}
    links = rows.locator(".upload-outcome a").evaluate_all("links => links.map(a => a.pathname)")
    assert links == [f"/jobs/{job.pk}/" for job in jobs]
    assert csp_violations == []


def test_the_stem_sets_follow_the_provider_and_the_chosen_file_stays(
    signed_in, live_server, providers, dev_dir, csp_violations
):
    page = signed_in
    page.goto(f"{live_server.url}/projects/new/")
    choose_files(page, str(dev_dir / DEV01 / "mixture.flac"))
    foreground = page.locator("label[data-stem-set=foreground_background]")
    assert foreground.is_visible() and page.is_checked("input[value=foreground_background]")
    page.check("input[name=provider][value=finevoice]")
    # FineVoice offers no foreground / background: the choice moves to its first stem set.
    assert not foreground.is_visible()
    assert page.locator("label[data-stem-set=multi]").is_visible()
    assert page.is_checked("input[name=stem_set][value=vocals_instrumental]")
    assert page.eval_on_selector("input[name=file]", "el => el.files.length") == 1
    page.check("input[name=provider][value=local]")
    assert foreground.is_visible() and not page.locator("label[data-stem-set=multi]").is_visible()
    task_id = page.locator("input[name=platform_task_id]")
    assert not task_id.is_visible()  # a platform track's fields: only for Suno-style
    page.check("input[name=provider][value=suno]")
    assert task_id.is_visible() and page.locator("input[name=platform_audio_id]").is_visible()
    page.check("input[name=provider][value=finevoice]")
    page.check("input[name=stem_set][value=multi]")
    page.click("main button[type=submit]")
    page.wait_for_selector("#job-status")  # one file: on to its job page
    job = SeparationJob.objects.get()
    assert (job.provider, job.stem_set) == ("finevoice", "multi")
    assert page.url == f"{live_server.url}/jobs/{job.pk}/"
    assert csp_violations == []
