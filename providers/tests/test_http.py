"""The providers' HTTP seam: one TLS context for every request, per CA source."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi

from providers.http import ProviderHTTP, tls_context


def _client() -> ProviderHTTP:
    return ProviderHTTP(
        lambda **fields: None, label="CAMB.AI", base_url="https://camb.test", headers={}
    )


def test_provider_requests_share_one_tls_context(monkeypatch):
    shared = tls_context()
    built = []
    real = ssl.create_default_context
    monkeypatch.setattr(
        ssl, "create_default_context", lambda *a, **k: built.append(k) or real(*a, **k)
    )
    for _ in range(3):
        _client().close()
    assert built == [] and tls_context() is shared


def test_another_ca_bundle_gets_its_own_context(monkeypatch, tmp_path):
    shared = tls_context()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert tls_context() is not shared and tls_context() is tls_context()
