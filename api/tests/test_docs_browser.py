"""The API's docs page in Debian's chromium: Swagger UI from the bundled files renders every
operation under the strict Content-Security-Policy, asking nothing of the network."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_renders_every_operation_without_a_policy_violation(
    page, live_server, csp_violations
):
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: elsewhere.append(r.url) if not r.url.startswith(live_server.url) else None,
    )
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    operations = page.locator(".opblock-summary-path").evaluate_all(
        "els => els.map(e => e.closest('.opblock').querySelector('.opblock-summary-method')"
        ".textContent + ' ' + e.dataset.path)"
    )
    assert sorted(operations) == sorted(
        [
            "POST /api/v1/projects",
            "GET /api/v1/projects",
            "GET /api/v1/projects/{project_id}",
            "DELETE /api/v1/projects/{project_id}",
            "POST /api/v1/projects/{project_id}/jobs",
            "GET /api/v1/jobs",
            "GET /api/v1/jobs/{job_id}",
            "GET /api/v1/jobs/{job_id}/stems",
            "POST /api/v1/jobs/{job_id}/cancel",
        ]
    )
    assert page.locator(".btn.authorize").count() == 1  # the bearer token can be entered
    assert csp_violations == []
    assert elsewhere == []
