"""Production settings: `manage.py check --deploy` is clean with the README's values, and the
client address behind a proxy reaches allauth's throttling."""

from __future__ import annotations

import os
import subprocess
import sys

from allauth.account.adapter import get_adapter
from django.test import RequestFactory

from tests.fixtures import ROOT

PRODUCTION = {
    "SECRET_KEY": "k" * 20 + "-production-only-" + "q" * 40,
    "DEBUG": "false",
    "ALLOWED_HOSTS": "stems.example.com",
    "STEMWEB_SECURE_COOKIES": "true",
    "STEMWEB_HSTS_PRELOAD": "true",
    "STEMWEB_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
}


def _check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    # The test run itself allows async-unsafe calls (Playwright beside live_server); a
    # deployment never does.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy"],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_documented_production_settings_pass_check_deploy():
    result = _check_deploy(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_without_tls_settings_check_deploy_warns():
    result = _check_deploy(**{**PRODUCTION, "STEMWEB_SECURE_COOKIES": "false"})
    out = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in out


def test_the_client_address_comes_from_the_proxy_header(settings):
    settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"
    request = RequestFactory().post("/accounts/login/", HTTP_X_REAL_IP="203.0.113.9")
    assert get_adapter(request).get_client_ip(request) == "203.0.113.9"


def test_the_client_address_comes_from_x_forwarded_for_behind_one_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().post(
        "/accounts/login/", HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="10.0.0.2"
    )
    assert get_adapter(request).get_client_ip(request) == "198.51.100.7"
