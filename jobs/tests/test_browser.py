"""A person in Debian's chromium: sign up, upload, watch the job finish, listen, download."""

from __future__ import annotations

import pytest
import soundfile as sf

from jobs.models import SeparationJob
from tests.browser import choose_files, sign_in
from tests.fixtures import make_job, make_user
from tests.workers import run_worker_burst

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_upload_watch_listen_and_download(
    page, live_server, dev_dir, stored, tmp_path, csp_violations
):
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("input[name=email]", "lin@example.com")
    page.fill("input[name=password1]", "a long listening passphrase")
    page.fill("input[name=password2]", "a long listening passphrase")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".team").inner_text() == "lin's team"

    page.click("text=Upload a recording")
    choose_files(page, str(dev_dir / "dev05_sung_female__soundtrack" / "mixture.flac"))
    page.fill("input[name=name]", "Caves, sung")
    page.check("input[value=vocals_instrumental]")
    page.click("main button[type=submit]")
    page.wait_for_selector("#job-status[data-status=queued]")
    assert page.locator("h1").inner_text() == "Caves, sung"
    assert page.locator("#job-cancel button").is_visible()
    page.evaluate("window.__notReloaded = true")

    worker = run_worker_burst(stored)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert SeparationJob.objects.get().status == SeparationJob.Status.SUCCEEDED

    page.wait_for_selector("#job-status[data-status=succeeded]", timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped the fragment in place
    assert page.locator("#job-status").get_attribute("hx-trigger") is None
    assert page.locator("#job-cancel").count() == 0  # the final fragment took it away
    stems = page.locator(".mixer .track:not(.mixture)")
    assert stems.evaluate_all("rows => rows.map(r => r.dataset.stem)") == ["vocals", "instrumental"]
    # A function, evaluated once: the page's CSP refuses Playwright's eval of an expression on
    # every poll after the first.
    page.wait_for_function(
        "() => [...document.querySelectorAll('audio')].every(a => a.readyState >= 1)"
    )
    durations = page.locator("audio").evaluate_all("els => els.map(a => a.duration)")
    assert len(durations) == 3 and all(abs(d - 20.0) < 0.05 for d in durations)

    with page.expect_download() as download_info:
        page.locator(".track[data-stem=vocals] a.download[data-format=flac]").click()
    download = download_info.value
    assert download.suggested_filename == "caves-sung-vocals.flac"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    audio, rate = sf.read(saved)
    assert rate == 44100 and audio.shape == (882000, 2)
    assert csp_violations == []  # every page of the way, the polling job page included


def test_the_job_page_polls_only_while_its_tab_is_visible(
    page, live_server, mixture, csp_violations
):
    user = make_user("hidden@example.com")
    job = make_job(user, mixture)  # queued, and no worker: it polls until the test ends
    sign_in(page, live_server, user)
    # The test decides whether the tab is hidden; htmx and polling.js read document.hidden. The
    # page counts its own polls: each tick of the trigger, and each request sent with the event
    # that caused it, so nothing is read off the network or the clock.
    page.add_init_script(
        """
        window.__hidden = false;
        Object.defineProperty(Document.prototype, "hidden", {get: () => window.__hidden});
        window.__ticks = 0;
        window.__sent = [];
        document.addEventListener("htmx:beforeRequest", () => { window.__ticks += 1; });
        document.addEventListener("htmx:beforeSend", (e) => {
          const cause = e.detail.requestConfig.triggeringEvent;
          window.__sent.push(cause ? cause.type : "every");
        });
        """
    )

    def show(visible: bool) -> None:
        page.evaluate(
            f"window.__hidden = {'false' if visible else 'true'};"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )

    def sent() -> list[str]:
        return page.evaluate("() => window.__sent")

    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_selector("#job-status[data-status=queued]")
    page.wait_for_function("() => window.__sent.length >= 2")  # every 2 s while visible

    show(False)
    before, ticks = sent(), page.evaluate("() => window.__ticks")
    page.wait_for_function(f"() => window.__ticks >= {ticks + 2}")  # two ticks while hidden
    assert sent() == before  # and no request

    show(True)
    page.wait_for_function(f"() => window.__sent.length > {len(before)}")
    # Refreshed at once, not at the next tick (which may follow it, queued behind it).
    assert sent()[len(before)] == "stemweb:visible"
    assert page.locator("#job-status").get_attribute("hx-trigger") is not None
    assert csp_violations == []
