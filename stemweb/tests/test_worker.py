"""The RQ worker builds what its forked work-horses share before the first fork."""

from __future__ import annotations

import ssl
import sys
import threading
import time
import uuid

import django_rq
from django.urls import clear_url_caches, reverse
from django.urls.resolvers import URLResolver
from redis.client import PubSub

from providers.http import ProviderHTTP, _tls_context
from stemweb.worker import StemwebWorker
from tests.workers import StemwebSimpleWorker


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


def _in_event_wait(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked in ``threading.Event.wait`` (or has ended)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename == threading.__file__:
            return True
        frame = frame.f_back
    return not thread.is_alive()


def test_a_worker_that_ran_a_job_stops_within_five_seconds(monkeypatch):
    """RQ's teardown unsubscribes, then stops the pub/sub thread. On a busy machine the thread
    can read the server's unsubscribe reply first, go back to waiting up to ``sleep_time`` (60 s)
    for a subscription, and redis-py 8.2's ``stop()`` then waits for it. The wrapper below makes
    that ordering certain instead of likely: ``unsubscribe`` returns only once the thread has
    gone back to waiting (or ended)."""
    unsubscribe = PubSub.unsubscribe
    thread = None
    worker = StemwebSimpleWorker(["default"], connection=django_rq.get_connection("default"))

    def unsubscribe_then_let_the_thread_run_first(pubsub, *args, **kwargs):
        nonlocal thread
        thread = worker.pubsub_thread
        unsubscribe(pubsub, *args, **kwargs)
        deadline = time.monotonic() + 10
        while not _in_event_wait(thread) and time.monotonic() < deadline:
            time.sleep(0.01)

    monkeypatch.setattr(PubSub, "unsubscribe", unsubscribe_then_let_the_thread_run_first)
    django_rq.get_queue("default").enqueue(time.sleep, 0.1)

    started = time.monotonic()
    worker.work(burst=True)
    elapsed = time.monotonic() - started

    assert worker.pubsub_thread is None and not thread.is_alive()
    assert elapsed < 5, f"the worker took {elapsed:.1f} s to stop"
