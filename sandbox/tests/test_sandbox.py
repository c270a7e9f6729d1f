"""The sandboxes themselves: keys, input validation, and the Suno-style callback schedule."""

from __future__ import annotations

import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
import soundfile as sf

from providers.sandboxing import stems
from tests.fixtures import DEV01
from tests.workers import SANDBOX_KEY

BEARER = {"Authorization": f"Bearer {SANDBOX_KEY}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/camb/apis/audio-separation/x", {"headers": {"x-api-key": "wrong"}}),
        (
            "POST",
            "/finevoice/v1/audio/separation",
            {"headers": {"Authorization": "Bearer wrong"}, "json": {}},
        ),
        ("GET", "/suno/api/v1/vocal-removal/record-info", {"params": {"taskId": "x"}}),
    ],
)
def test_every_api_wants_its_key(sandbox, method, path, kwargs):
    assert httpx.request(method, sandbox.url + path, **kwargs).status_code == 401


def test_camb_validates_like_fastapi(sandbox, mixture):
    url = f"{sandbox.url}/camb/apis/audio-separation"
    missing = httpx.post(url, headers={"x-api-key": SANDBOX_KEY}, data={"project_name": "ok name"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "media_file"]
    with open(mixture, "rb") as fh:
        short = httpx.post(
            url,
            headers={"x-api-key": SANDBOX_KEY},
            data={"project_name": "x"},
            files={"media_file": fh},
        )
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "project_name"]
    unknown = httpx.get(f"{url}/nope", headers={"x-api-key": SANDBOX_KEY})
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"sourceUrl": "ftp://x/y.wav", "model": "vocal-remover"},
        {"sourceUrl": "http://x/y", "model": "nope"},
    ],
)
def test_finevoice_validates_its_body(sandbox, body):
    answer = httpx.post(f"{sandbox.url}/finevoice/v1/audio/separation", headers=BEARER, json=body)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "VALIDATION"


def test_suno_answers_with_its_codes(sandbox):
    url = f"{sandbox.url}/suno/api/v1/vocal-removal/generate"
    hook = "https://example.com/hook"
    missing = httpx.post(url, headers=BEARER, json={"type": "separate_vocal", "callBackUrl": hook})
    assert missing.json()["code"] == 400
    unknown = httpx.post(
        url, headers=BEARER, json={"taskId": "no", "audioId": "no", "callBackUrl": hook}
    )
    assert unknown.json()["code"] == 404 and unknown.json()["msg"] == "Track not found"


def test_suno_callbacks_are_retried_after_1_5_and_15_minutes_scaled(sandbox):
    """The receiver fails every delivery, so the sandbox tries four times on its schedule."""
    arrivals: list[float] = []

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            arrivals.append(time.monotonic())
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer = httpx.post(
        f"{sandbox.url}/suno/api/v1/vocal-removal/generate",
        headers=BEARER,
        json={
            "taskId": DEV01,
            "audioId": "audio-1",
            "type": "separate_vocal",
            "callBackUrl": f"http://127.0.0.1:{server.server_port}/hook",
        },
    )
    task_id = answer.json()["data"]["taskId"]
    deadline = time.monotonic() + 30
    while len(arrivals) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.shutdown()
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    expected = [
        60 * sandbox.callback_scale,
        300 * sandbox.callback_scale,
        900 * sandbox.callback_scale,
    ]
    for gap, want in zip(gaps, expected, strict=True):
        assert want * 0.9 <= gap <= want + 0.5
    attempts = [c["attempt"] for c in sandbox.callbacks_sent if c["task_id"] == task_id]
    assert attempts == [0, 1, 2, 3]


def test_a_recording_split_before_is_copied_not_separated_again(dev_dir, tmp_path, monkeypatch):
    source = dev_dir / DEV01 / "mixture.flac"
    names = ["vocals", "instrumental"]
    first = stems.split(source, names, tmp_path / "first")

    def no_engine():
        raise AssertionError("the engine ran again")

    monkeypatch.setattr(stems, "_engine", no_engine)
    again = stems.split(source, names, tmp_path / "again")
    assert [p.name for p in again.values()] == ["vocals.flac", "instrumental.flac"]
    for name in names:
        assert again[name].parent == tmp_path / "again"
        assert again[name].read_bytes() == first[name].read_bytes()
    mixture, _ = sf.read(source)
    total = sum(sf.read(again[name])[0] for name in names)
    assert np.max(np.abs(total - mixture)) < 1e-3  # still stems of this recording
    with pytest.raises(AssertionError, match="the engine ran again"):
        stems.split(source, ["vocals", "drums", "bass"], tmp_path / "other")  # other names
