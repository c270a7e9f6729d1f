"""The RQ worker builds what its forked work-horses share before the first fork."""

from __future__ import annotations

import ssl
import uuid

import django_rq
from django.urls import clear_url_caches, reverse
from django.urls.resolvers import URLResolver

from providers.http import ProviderHTTP, _tls_context
from stemweb.worker import StemwebWorker


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("built again after the worker started")


def test_a_status_check_builds_no_url_resolver_or_tls_context_of_its_own(monkeypatch):
    clear_url_caches()
    _tls_context.cache_clear()
    worker = StemwebWorker(["default", "local"], connection=django_rq.get_connection("default"))
    worker.bootstrap(logging_level=None)
    try:
        monkeypatch.setattr(URLResolver, "_populate", _refuse)
        monkeypatch.setattr(ssl, "create_default_context", _refuse)
        # What every step of a remote job does in its work-horse (jobs.services.run._context,
        # RemoteProvider.call):
        reverse("provider_callback", args=["camb", uuid.uuid4(), "token"])
        http = ProviderHTTP(
            lambda **fields: None, label="CAMB.AI", base_url="https://camb.test", headers={}
        )
        http.close()
    finally:
        worker.teardown()
