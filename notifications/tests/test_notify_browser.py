"""Browser notifications in Debian's chromium: a job the person started ends while another of
the site's pages sits in a hidden tab, and that page tells them; the permission is asked for at
the first upload, never when a page loads."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.models import SeparationJob
from jobs.services import job_ended
from tests.browser import choose_files, sign_in
from tests.fixtures import make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# window.Notification, recording: each notice made (title, body, tag) and each request for the
# permission go to the test through exposed functions, which outlive page loads. The permission
# is the browser's real one once the test grants it, else "default" (never asked).
RECORDING_NOTIFICATION = """
(() => {
  const Real = window.Notification;
  window.__notices = [];
  class Recording extends EventTarget {
    constructor(title, options) {
      super();
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      window.__notices.push(this);
      window.__stemwebNotified(title, options.body, options.tag);
    }
    close() {}
    static get permission() {
      window.__permissionChecks = (window.__permissionChecks || 0) + 1;
      return Real.permission === "granted" ? "granted" : "default";
    }
    static requestPermission() {
      window.__stemwebAsked();
      return Promise.resolve(this.permission);
    }
  }
  window.Notification = Recording;
  window.__hidden = false;
  Object.defineProperty(Document.prototype, "hidden", {get: () => window.__hidden});
})();
"""


@pytest.fixture
def recorded(page, live_server, settings, csp_violations):
    """``page`` with the recording Notification (``csp_violations`` watches it first), and
    what it recorded: ``notices`` as (title, body, tag), ``asked`` (permission requests) and
    ``polls`` (requests to /jobs/ended/)."""
    settings.STEMWEB_NOTIFY_POLL_S = 1
    record: dict[str, list] = {"notices": [], "asked": [], "polls": []}
    page.expose_function(
        "__stemwebNotified", lambda title, body, tag: record["notices"].append((title, body, tag))
    )
    page.expose_function("__stemwebAsked", lambda: record["asked"].append(page.url))
    page.add_init_script(RECORDING_NOTIFICATION)
    page.on("request", lambda r: record["polls"].append(r.url) if "/jobs/ended/" in r.url else None)
    page.set_default_timeout(30_000)
    return record


def test_a_hidden_tab_on_another_page_tells_when_ones_job_ends(
    page, live_server, mixture, recorded, csp_violations
):
    user = make_user("nell@example.com")
    job = make_job(user, mixture, name="Caves, sung")  # queued; no worker runs it
    sign_in(page, live_server, user)
    page.context.grant_permissions(["notifications"], origin=live_server.url)

    with page.expect_response(lambda r: "/jobs/ended/" in r.url):
        page.goto(f"{live_server.url}/")  # the dashboard, not the job's page
    page.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    polls_when_hidden = len(recorded["polls"])
    for _ in range(2):  # the second was sent while hidden, whenever the first was
        page.wait_for_event("request", lambda r: "/jobs/ended/" in r.url)
    assert len(recorded["polls"]) >= polls_when_hidden + 2  # still polling in the hidden tab
    assert recorded["notices"] == []

    # The job ends as a worker ends it: the row, then the job-ended service.
    SeparationJob.objects.filter(pk=job.pk).update(
        status=SeparationJob.Status.SUCCEEDED, progress=1.0, finished=timezone.now()
    )
    job_ended(job)
    page.wait_for_function("() => window.__notices.length > 0", timeout=15_000)
    assert recorded["notices"] == [
        (
            "“Caves, sung” is separated",
            "Foreground / background by Local engine.",
            f"stemweb-job-{job.pk}",
        )
    ]
    # Later polls ask from after it: no second notice. A poll is sent once the one before it
    # was answered and shown, so the second poll from now follows a whole answered one.
    for _ in range(2):
        page.wait_for_event("request", lambda r: "/jobs/ended/" in r.url)
    assert page.evaluate("() => window.__notices.length") == 1
    assert len(recorded["notices"]) == 1

    page.evaluate("window.__notices[0].dispatchEvent(new Event('click'))")
    page.wait_for_url(f"{live_server.url}/jobs/{job.pk}/")  # clicking it opens the job
    assert recorded["asked"] == []  # no page load asked for the permission
    assert csp_violations == []


def test_the_permission_is_asked_for_at_the_first_upload_and_nothing_polls_before(
    page, live_server, mixture, recorded, csp_violations
):
    user = make_user("ora@example.com")
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/projects/new/")
    # Three ticks of the poll, each of which reads the permission and, not granted, asks the
    # server nothing.
    page.wait_for_function("() => (window.__permissionChecks || 0) >= 3")
    assert recorded["asked"] == [] and recorded["polls"] == []

    choose_files(page, str(mixture))
    page.check("input[value=vocals_instrumental]")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/jobs/*/")
    assert recorded["asked"] == [f"{live_server.url}/projects/new/"]  # once, at the submit
    assert recorded["polls"] == []  # still not granted: nothing asked of the server
    assert csp_violations == []
