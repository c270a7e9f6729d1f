"""Keyboard only, in Debian's chromium: from the dashboard to an upload, to the job's page, to a
playing mixer, with no mouse; every stop of the focus on the way is visibly marked."""

from __future__ import annotations

import pytest

from jobs.models import SeparationJob
from jobs.tasks import run_job
from tests.browser import axe_violations, mixer_ready, sign_in, upload_ready
from tests.fixtures import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What the focused element looks like: enough to say where the focus is and whether it shows.
FOCUS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    where: el.tagName.toLowerCase() + (el.name ? `[name=${el.name}]` : "")
      + " " + (el.getAttribute("aria-label") || el.innerText || el.value || "").trim().slice(0, 40),
    marked: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2)
      || style.boxShadow !== "none",
  };
}"""


class Keyboard:
    """Tab through a page as a keyboard user does, noting every stop."""

    def __init__(self, page):
        self.page = page
        self.stops: list[dict] = []

    def tab_to(self, selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            self.stops.append(self.page.evaluate(FOCUS))
            if self.page.evaluate("s => document.activeElement.matches(s)", selector):
                return
        pytest.fail(f"{selector} not reached in {limit} tabs: {[s['where'] for s in self.stops]}")

    def arrow_to(self, selector: str, limit: int = 10) -> None:
        """Within a radio group, the arrow keys move and choose."""
        for _ in range(limit):
            if self.page.evaluate("s => document.activeElement.matches(s)", selector):
                return
            self.page.keyboard.press("ArrowDown")
        pytest.fail(f"{selector} not reached with the arrow keys")

    def unmarked(self) -> list[str]:
        return [s["where"] for s in self.stops if not s["marked"]]


def test_from_upload_to_a_playing_mixer_by_keyboard_alone(
    page, live_server, mixture, axe_source, csp_violations
):
    page.set_default_timeout(30_000)
    sign_in(page, live_server, make_user("kay@example.com"))
    keys = Keyboard(page)
    page.goto(f"{live_server.url}/")

    keys.tab_to("a.skip-link")  # the first stop of every page
    keys.tab_to("header a[href='/projects/new/']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/projects/new/")
    upload_ready(page)

    # The form's own order: provider, stem set, the file, its name, then the submit button.
    keys.tab_to("input[name=provider]")
    keys.arrow_to("input[name=provider][value=local]")
    keys.tab_to("input[name=stem_set]")
    keys.arrow_to("input[name=stem_set][value=vocals_instrumental]")
    keys.tab_to("input[type=file]")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(mixture))
    keys.tab_to("input[name=name]")
    page.keyboard.type("Rock, by keyboard")
    keys.tab_to("form button[type=submit]")
    page.keyboard.press("Enter")

    page.wait_for_url("**/jobs/*/")
    job = SeparationJob.objects.get()
    assert (job.provider, job.stem_set) == ("local", "vocals_instrumental")
    assert job.project.name == "Rock, by keyboard"
    run_job(str(job.pk))  # the worker, in-process: the page is polling meanwhile
    mixer_ready(page, "#job-status[data-status=succeeded]")

    keys.tab_to(".mixer [data-action=play]")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mixer audio')]"
        ".every(a => !a.paused && a.currentTime > .5)"
    )
    assert page.locator(".mixer [data-action=play]").inner_text() == "Pause"
    keys.tab_to(".track[data-stem=vocals] [data-action=mute]")
    page.keyboard.press("Space")
    assert page.locator(".track[data-stem=vocals] audio").evaluate("a => a.muted") is True
    assert (
        page.locator(".track[data-stem=vocals] [data-action=mute]").get_attribute("aria-pressed")
        == "true"
    )

    assert keys.unmarked() == [], "\n".join(s["where"] for s in keys.stops)
    assert len(keys.stops) >= 8
    assert axe_violations(page, axe_source) == []  # the page as the job's end left it
    assert csp_violations == []
