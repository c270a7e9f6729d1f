"""The README's API script, run as written against a live server and a real worker: it uploads,
waits and downloads real stems, so the README cannot drift from the API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import soundfile as sf

from jobs.models import SeparationJob
from tests.fixtures import ROOT, make_token, make_user
from tests.workers import drain

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def readme_script() -> str:
    """The first Python block of the README's "API" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README's API section has no python block"
    return block.group(1)


def test_the_readme_script_is_short_and_uses_only_httpx():
    code = readme_script()
    assert len([line for line in code.splitlines() if line.strip()]) <= 11  # ten and a print
    assert code.startswith("import os, sys, time, httpx\n")


def test_the_readme_script_uploads_waits_and_downloads_the_stems(
    live_server, settings, mixture, tmp_path
):
    settings.STEMWEB_PUBLIC_URL = live_server.url  # where the signed stem links point
    token = make_token(make_user("script@example.com"))
    script = subprocess.Popen(
        [sys.executable, "-c", readme_script(), str(mixture)],
        cwd=tmp_path,
        env={**os.environ, "STEMWEB_URL": live_server.url, "STEMWEB_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not SeparationJob.objects.exists():  # the script's upload made it
            assert script.poll() is None, script.communicate()
            assert time.monotonic() < deadline, "the script never started a job"
            time.sleep(0.2)
        job = drain(SeparationJob.objects.get(), timeout_s=300)  # a worker runs it
        assert job.status == SeparationJob.Status.SUCCEEDED, job.error
        out, err = script.communicate(timeout=60)
    finally:
        if script.poll() is None:
            script.kill()
    assert script.returncode == 0, err
    assert out.strip() == "succeeded"
    mixture_info = sf.info(mixture)
    for name in ("vocals", "instrumental"):
        info = sf.info(tmp_path / f"{name}.flac")
        assert info.samplerate == mixture_info.samplerate
        assert abs(info.duration - mixture_info.duration) < 0.01
