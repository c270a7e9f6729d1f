"""Outgoing webhooks: signed Suno-style payloads, retries after 1/5/15 minutes, recorded."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import Membership
from jobs.services import job_create
from providers.stemsets import StemSet
from tests.fixtures import make_finished_job, make_project, make_user
from tests.workers import drain, work_due
from webhooks.delivery import RETRY_DELAYS_S, webhooks_recover
from webhooks.models import WebhookDelivery
from webhooks.payload import new_secret

pytestmark = pytest.mark.django_db(transaction=True)
Outcome = WebhookDelivery.Outcome


class Receiver:
    """A webhook endpoint on loopback that answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append((dict(self.headers), body, time.monotonic()))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def team_with_hook(providers, settings):
    owner = make_user("ada@example.com")
    team = Membership.objects.get(user=owner).team
    team.webhook_secret = new_secret()
    settings.STEMWEB_WEBHOOK_RETRY_SCALE = 0.005  # 1, 5, 15 min -> 0.3, 1.5, 4.5 s
    settings.STEMWEB_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]  # the test's receivers, on loopback
    return owner, team


@pytest.fixture
def receivers():
    """Makes Receivers; every one is shut down after the test, passed or failed."""
    made: list[Receiver] = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _hook(team, url: str) -> None:
    team.webhook_url = url
    team.save()


def _finish(
    owner,
    mixture,
    *,
    provider="local",
    stem_set=StemSet.FOREGROUND_BACKGROUND,
    name="Song",
    run=False,
):
    """A job on a dev recording, ended; its webhook is queued then. A remote provider's job, or
    any with ``run``, runs through the worker; otherwise the job ends with stems split once a
    session and stored as collection stores them (the same ending, without the engine)."""
    if provider == "local" and not run:
        workdir = Path(tempfile.mkdtemp(prefix="stemweb-test-hook-"))
        try:
            return make_finished_job(owner, mixture, stem_set, workdir, name, provider="local")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return drain(
        job_create(
            project=make_project(owner, mixture, name),
            user=owner,
            provider_key=provider,
            stem_set=stem_set,
        )
    )


def _wait_for(predicate, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        work_due()
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_a_finished_job_is_posted_signed_with_working_stem_links(
    team_with_hook, mixture, receivers
):
    owner, team = team_with_hook
    receiver = receivers()
    _hook(team, receiver.url)
    job = _finish(owner, mixture, stem_set=StemSet.VOCALS_INSTRUMENTAL, name="Take 5", run=True)
    _wait_for(lambda: receiver.requests)
    headers, body, _ = receiver.requests[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    payload = Webhook(team.webhook_secret).verify(body, lowered)
    assert payload["code"] == 200 and payload["data"]["task_id"] == str(job.pk)
    assert payload["data"]["project"] == "Take 5" and payload["data"]["status"] == "succeeded"
    links = payload["data"]["vocal_removal_info"]
    assert set(links) == {"vocals_url", "instrumental_url"}
    stem = httpx.get(links["vocals_url"])
    assert stem.status_code == 200 and "attachment" in stem.headers["content-disposition"]
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, lowered)  # another secret does not verify
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.status_code, delivery.attempt) == (Outcome.DELIVERED, 200, 1)


def test_a_failed_job_is_posted_with_its_reason(team_with_hook, mixture, settings, receivers):
    owner, team = team_with_hook
    receiver = receivers()
    _hook(team, receiver.url)
    settings.STEMWEB_PROVIDERS["camb"]["api_key"] = "wrong"
    _finish(owner, mixture, provider="camb")
    _wait_for(lambda: receiver.requests)
    payload = json.loads(receiver.requests[0][1])
    assert payload["code"] == 500 and "refused the API key" in payload["msg"]
    assert payload["data"]["status"] == "failed" and "vocal_removal_info" not in payload["data"]


def test_retries_follow_the_1_5_15_minute_schedule_then_give_up(
    team_with_hook, mixture, settings, receivers
):
    owner, team = team_with_hook
    settings.STEMWEB_WEBHOOK_RETRY_SCALE = 0.005  # 0.3, 1.5, 4.5 s: RQ schedules to the second
    receiver = receivers(statuses=[500, 503, 502, 500])
    _hook(team, receiver.url)
    _finish(owner, mixture)
    _wait_for(lambda: len(receiver.requests) == 4, timeout_s=30)
    _wait_for(lambda: WebhookDelivery.objects.filter(outcome=Outcome.FAILED).exists())
    deliveries = list(WebhookDelivery.objects.order_by("attempt"))
    assert [d.outcome for d in deliveries] == [Outcome.RETRYING] * 3 + [Outcome.FAILED]
    assert [d.status_code for d in deliveries] == [500, 503, 502, 500]
    assert len({d.message_id for d in deliveries}) == 1  # one message, four attempts
    scale = settings.STEMWEB_WEBHOOK_RETRY_SCALE
    for delivery, delay in zip(deliveries, RETRY_DELAYS_S, strict=False):
        planned = (delivery.next_attempt_at - delivery.attempted_at).total_seconds()
        assert planned == pytest.approx(delay * scale, abs=0.25)
    gaps = [b[2] - a[2] for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    for gap, delay in zip(gaps, RETRY_DELAYS_S, strict=True):
        # on schedule, within the scheduler's one-second resolution
        assert delay * scale - 1.0 <= gap <= delay * scale + 1.5


def test_a_private_webhook_address_is_refused(team_with_hook, mixture, settings):
    owner, team = team_with_hook
    _hook(team, "http://10.0.0.1/hook")  # never contacted: refused before connecting
    settings.STEMWEB_WEBHOOK_RETRY_SCALE = 0.0001
    _finish(owner, mixture)
    _wait_for(lambda: WebhookDelivery.objects.filter(outcome=Outcome.FAILED).exists())
    assert "non-public address" in WebhookDelivery.objects.get(attempt=1).error


def test_the_result_file_allow_list_never_opens_loopback_to_webhooks(
    team_with_hook, mixture, settings, receivers
):
    owner, team = team_with_hook
    receiver = receivers()
    settings.STEMWEB_WEBHOOK_ALLOW_HOSTS = []  # as in production and under `make run`
    settings.STEMWEB_FETCH_ALLOW_HOSTS = ["127.0.0.1", "localhost"]  # the sandboxes' files
    settings.STEMWEB_WEBHOOK_RETRY_SCALE = 0.0001
    _hook(team, receiver.url)
    _finish(owner, mixture)
    _wait_for(lambda: WebhookDelivery.objects.filter(outcome=Outcome.FAILED).exists())
    assert "non-public address" in WebhookDelivery.objects.get(attempt=1).error
    assert receiver.requests == []


def test_the_settings_page_shows_deliveries_to_admins_only(
    client, team_with_hook, mixture, receivers
):
    owner, team = team_with_hook
    receiver = receivers()
    client.force_login(owner)
    response = client.post(reverse("team_webhook"), {"webhook_url": receiver.url})
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.webhook_url == receiver.url and team.webhook_secret.startswith("whsec_")
    _finish(owner, mixture, name="Shown")
    _wait_for(lambda: WebhookDelivery.objects.filter(outcome=Outcome.DELIVERED).exists())
    html = client.get(reverse("team_settings")).content.decode()
    assert "Shown" in html and "Delivered" in html and "HTTP 200" in html
    Membership.objects.filter(user=owner).update(role=Membership.Role.VIEWER)
    html = client.get(reverse("team_settings")).content.decode()
    assert "whsec_" not in html and "Deliveries" not in html
    assert client.post(reverse("team_webhook"), {"webhook_url": ""}).status_code == 403
    team.refresh_from_db()
    assert team.webhook_url == receiver.url


def test_deliveries_redis_lost_or_a_dead_worker_left_are_sent_again(
    team_with_hook, mixture, receivers
):
    from datetime import timedelta

    import django_rq
    from django.utils import timezone

    owner, team = team_with_hook
    receiver = receivers()
    _hook(team, receiver.url)
    _finish(owner, mixture)
    _wait_for(lambda: len(receiver.requests) == 1)
    # A delivery queued when Redis restarted empty: pending, with no task anywhere.
    WebhookDelivery.objects.update(outcome=Outcome.PENDING, created=timezone.now())
    django_rq.get_connection("default").flushdb()
    assert webhooks_recover(held=set()) == {"webhooks requeued": 0}  # not late enough yet
    long_ago = timezone.now() - timedelta(minutes=10)
    WebhookDelivery.objects.update(created=long_ago)
    assert webhooks_recover(held=set()) == {"webhooks requeued": 1}
    _wait_for(lambda: len(receiver.requests) == 2)
    # A worker died mid-POST: the attempt is left "sending"; it is sent again, same webhook-id.
    WebhookDelivery.objects.update(outcome=Outcome.SENDING, attempted_at=long_ago)
    assert webhooks_recover(held=set()) == {"webhooks requeued": 1}
    _wait_for(lambda: len(receiver.requests) == 3)
    assert len({headers["webhook-id"] for headers, _, _ in receiver.requests}) == 1
    assert WebhookDelivery.objects.get().outcome == Outcome.DELIVERED


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_timeout(
    team_with_hook, mixture, settings
):
    owner, team = team_with_hook
    settings.STEMWEB_WEBHOOK_TIMEOUT_S = 1
    stop = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        def do_POST(self):  # one byte every 0.5 s: never idle long enough for a read timeout
            self.rfile.read(int(self.headers["content-length"]))
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if stop.wait(0.5):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _hook(team, f"http://127.0.0.1:{server.server_port}/hook")
        _finish(owner, mixture)
        _wait_for(lambda: WebhookDelivery.objects.exclude(outcome=Outcome.PENDING).exists())
        first = WebhookDelivery.objects.get(attempt=1)
        assert first.outcome == Outcome.RETRYING and first.status_code is None
        assert first.error == "the request took longer than 1 s"
        assert 900 <= first.duration_ms < 1900
    finally:
        stop.set()
        server.shutdown()
