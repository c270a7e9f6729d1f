"""Browser tests' fixtures: Debian's chromium for pytest-playwright, the Content-Security-Policy
violations a page met, and axe-core's accessibility violations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.fixtures import ROOT

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium, headless, with nothing reaching for the network."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def csp_violations(page) -> list[str]:
    """What the browser refused on ``page`` for the Content-Security-Policy, on every page it
    loads: each ``securitypolicyviolation`` ("directive blocked-uri"), each console report of
    one, and each expression htmx declined to eval (allowEval is off). Assert it stays empty."""
    violations: list[str] = []

    def blocked(what: str) -> None:
        violations.append(what)

    page.expose_function("__stemwebBlocked", blocked)
    page.add_init_script(
        """
        document.addEventListener("securitypolicyviolation", (e) =>
          window.__stemwebBlocked(e.violatedDirective + " " + e.blockedURI));
        document.addEventListener("htmx:evalDisallowedError", (e) =>
          window.__stemwebBlocked("htmx eval on " + e.target.outerHTML.slice(0, 120)));
        """
    )
    page.on(
        "console",
        lambda message: (
            blocked(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser bundle, from npm (package.json; `make install-dev` runs `npm ci`)."""
    if not AXE_JS.exists():
        message = f"{AXE_JS} is missing: make install-dev runs npm ci"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_JS.read_text()


def axe_violations(page: Any, axe_source: str) -> list[str]:
    """axe-core's serious and critical violations on ``page`` as it stands, one line per rule:
    "rule-id (impact): help: the first offending elements". Every rule axe-core runs by default
    (WCAG 2.0-2.2 A and AA, and best practices). axe is evaluated through the DevTools
    protocol, which the page's Content-Security-Policy does not govern, so the page is tested
    with its real policy."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: {', '.join(v['targets'])}"
        for v in found
        if v["impact"] in AXE_IMPACTS
    ]


def sign_in(page: Any, live_server: Any, user: Any) -> None:
    """Give ``page``'s browser a signed-in session of ``user`` (Django's ``force_login``), as if
    they had logged in."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )


def upload_ready(page: Any) -> None:
    """Wait until ``static/js/upload.js`` has enhanced the upload form (the file input takes
    several files, the stem sets follow the provider): it marks the form ``data-ready``."""
    page.wait_for_selector("[data-upload-form][data-ready=true]", state="attached")


def choose_files(page: Any, files: str | list[str]) -> None:
    """Choose ``files`` in the upload form, once the page's script has made it take several."""
    upload_ready(page)
    page.set_input_files("input[name=file]", files)


def mixer_ready(page: Any, scope: str = "") -> None:
    """Wait until ``static/js/mixer.js`` has bound the mixer (``.mixer[data-ready]``) under
    ``scope``, a selector, so its buttons and keys do what they say."""
    page.wait_for_selector(f"{scope} .mixer[data-ready=true]".strip(), state="attached")
