"""The mixer in Debian's chromium: a six-stem job plays in sync, mutes, solos, seeks; the zip
downloads with its manifest and decodable stems."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import soundfile as sf

from providers.stemsets import StemSet
from tests.browser import mixer_ready
from tests.fixtures import make_finished_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AUDIO_STATE = "els => els.map(a => ({paused: a.paused, muted: a.muted, t: a.currentTime}))"


def _log_in(page, live_server, email):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", "a-long-passphrase-42")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_the_mixer_plays_mutes_solos_seeks_and_zips(
    page, live_server, mixture, tmp_path, csp_violations
):
    owner = make_user("mix@example.com")
    job = make_finished_job(owner, mixture, StemSet.MULTI, tmp_path / "stems", name="Six")
    page.set_default_timeout(20_000)
    _log_in(page, live_server, "mix@example.com")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    mixer_ready(page)
    tracks = page.locator(".mixer .track")
    assert tracks.count() == 7  # six stems and the mixture
    audio = page.locator(".mixer audio")
    # Predicates as functions: Playwright evals a function once, an expression on every poll,
    # and the page's Content-Security-Policy refuses eval after the first.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mixer audio')].every(a => a.readyState >= 1)"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('.mixer .track')[0].querySelector('canvas').width > 0"
    )

    page.click(".mixer [data-action=play]")
    playing = (
        "() => [...document.querySelectorAll('.mixer audio')]"
        ".every(a => !a.paused && a.currentTime > .5)"
    )
    page.wait_for_function(playing)
    state = audio.evaluate_all(AUDIO_STATE)
    times = [s["t"] for s in state]
    assert max(times) - min(times) < 0.25  # in sync
    assert [s["muted"] for s in state] == [False] * 6 + [True]  # the mixture starts muted

    tracks.nth(1).locator("[data-action=mute]").click()
    tracks.nth(2).locator("[data-action=solo]").click()
    muted = [s["muted"] for s in audio.evaluate_all(AUDIO_STATE)]
    assert muted == [True, True, False, True, True, True, True]
    assert tracks.nth(1).locator("[data-action=mute]").get_attribute("aria-pressed") == "true"

    box = tracks.nth(0).locator("canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    # Half of 20 s, every track (they seek as the click is handled, then play on).
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mixer audio')]"
        ".every(a => a.currentTime > 9.5 && a.currentTime < 11.5)"
    )

    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press(" ")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mixer audio')].every(a => a.paused)"
    )
    page.keyboard.press("1")
    assert audio.evaluate_all(AUDIO_STATE)[0]["muted"] is True

    with page.expect_download() as info:
        page.click(".all-downloads a[data-format=flac]")
    archive = zipfile.ZipFile(info.value.path())
    manifest = json.loads(archive.read("six/manifest.json"))
    assert manifest["project"] == "Six" and manifest["provider"] == "finevoice"
    assert manifest["source"]["sha256"] == job.project.sha256
    assert [s["name"] for s in manifest["stems"]] == list(StemSet.MULTI.stem_names)
    for entry in manifest["stems"]:
        data, rate = sf.read(io.BytesIO(archive.read(f"six/{entry['file_name']}")))
        assert rate == entry["sample_rate"] == 44100 and len(data) == 882000
        assert entry["lufs"] is None or -60 < entry["lufs"] < 0
    assert csp_violations == []
