"""The Content-Security-Policy: on pages, the login page and htmx fragments alike, with neither
'unsafe-inline' nor 'unsafe-eval'; and templates that need neither (no inline script, style or
handler, no htmx attribute that evaluates code)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.http import HttpResponse
from django.urls import reverse

from stemweb.config import s3_media_origins
from tests.fixtures import ROOT, make_job

TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
HTMX = {"HTTP_HX_REQUEST": "true"}


def _policy(response: HttpResponse) -> dict[str, list[str]]:
    """The header as {directive: sources}; a missing header fails the test."""
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def _assert_strict(response: HttpResponse) -> None:
    header = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]


def test_the_login_page_has_a_strict_policy(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    _assert_strict(response)


def test_a_logged_in_page_has_a_strict_policy(logged_in):
    response = logged_in.get(reverse("dashboard"))
    assert response.status_code == 200
    _assert_strict(response)


def test_an_htmx_fragment_has_a_strict_policy(logged_in, user, mixture):
    job = make_job(user, mixture)
    response = logged_in.get(reverse("job_detail", args=[job.pk]), **HTMX)
    assert response.status_code == 200
    assert b'id="job-status"' in response.content and b"<html" not in response.content
    _assert_strict(response)


def test_htmx_is_configured_not_to_eval_nor_inject_styles(client):
    html = client.get(reverse("account_login")).content.decode()
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert meta is not None
    config = json.loads(meta.group(1))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False


def test_players_may_follow_stem_links_to_the_s3_bucket_only():
    assert s3_media_origins("", "", "") == []
    assert s3_media_origins("stems", "https://minio.example.com:9000/", "") == [
        "https://minio.example.com:9000"
    ]
    assert s3_media_origins("stems", "", "eu-central-1") == [
        "https://stems.s3.amazonaws.com",
        "https://stems.s3.eu-central-1.amazonaws.com",
    ]
    assert s3_media_origins("stems.example", "", "") == ["https://s3.amazonaws.com"]


@pytest.mark.parametrize(
    ("env", "media_src"),
    [
        ({}, ["'self'"]),
        (
            {"STEMWEB_S3_BUCKET": "stems", "STEMWEB_S3_ENDPOINT_URL": "https://s3.example.com"},
            ["'self'", "https://s3.example.com"],
        ),
        (
            {"STEMWEB_S3_BUCKET": "stems", "STEMWEB_CSP_MEDIA_ORIGINS": "https://cdn.example.com"},
            ["'self'", "https://cdn.example.com"],
        ),
    ],
)
def test_media_src_follows_the_storage_settings(env, media_src):
    # Settings are read once per process: a fresh interpreter sees the environment given.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STEMWEB_S3_", "STEMWEB_CSP_")) and k != "DJANGO_SETTINGS_MODULE"
    }
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stemweb import settings; "
            "print(*settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['media-src'])",
        ],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.split() == media_src


# --- Templates that the policy does not break -------------------------------------------------


COMMENTS = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.DOTALL)


def _offenders(pattern: str, flags: int = re.IGNORECASE) -> list[str]:
    """Every match of ``pattern`` in what templates/ renders (comments blanked, lines kept), as
    "path:line: text"."""
    found = []
    for path in TEMPLATES:
        text = COMMENTS.sub(lambda c: "\n" * c.group(0).count("\n"), path.read_text())
        for match in re.finditer(pattern, text, flags):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)[:80]}")
    return found


def test_templates_are_scanned():
    assert len(TEMPLATES) > 10 and ROOT / "templates" / "base.html" in TEMPLATES


def test_no_template_has_an_inline_script():
    # A JSON data block (type="application/json", as json_script writes) is never run: the
    # API docs page hands Swagger UI its settings in one.
    code = r"<script\b(?![^>]*\btype=\"application/json\")"
    assert _offenders(code + r"[^>]*>(?!</script>)") == []  # a body, even beside a src
    assert _offenders(code + r"(?![^>]*\bsrc=)[^>]*>") == []
    assert len(_offenders(r"<script\b[^>]*>")) > len(_offenders(code + r"[^>]*>"))


def test_no_template_has_inline_styles():
    assert _offenders(r"\sstyle\s*=") == []
    assert _offenders(r"<style\b") == []


def test_no_template_has_event_handler_attributes_or_javascript_urls():
    assert _offenders(r"\son[a-z]+\s*=") == []
    assert _offenders(r"javascript:") == []


def test_no_template_asks_htmx_to_eval():
    assert _offenders(r"\b(data-)?hx-on\b") == []
    assert _offenders(r"\b(data-)?hx-vars\b") == []
    assert _offenders(r"\b(data-)?hx-vals\s*=\s*['\"]\s*js:") == []
    assert _offenders(r"\b(data-)?hx-trigger\s*=\s*\"[^\"]*\[") == []
    assert _offenders(r"\b(data-)?hx-trigger\s*=\s*'[^']*\[") == []


def test_polling_fragments_pause_in_hidden_tabs_without_a_filter():
    polls = _offenders(r"hx-trigger=\"every \ds[^\"]*\"")
    assert sorted({poll.split(":")[0] for poll in polls}) == [
        "templates/downloads/download_wait.html",  # a rendition or zip on its way
        "templates/jobs/job_detail.html",  # the job's status, custom mixes
        "templates/jobs/project_detail.html",  # the project's unfinished jobs
        "templates/jobs/project_list.html",  # listing rows whose latest job is unfinished
    ]
    assert all("stemweb:visible from:document" in poll for poll in polls)
    base = (ROOT / "templates" / "base.html").read_text()
    assert "js/polling.js" in base
