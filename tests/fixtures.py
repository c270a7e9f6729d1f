"""Shared test fixtures and personas: users and teams, projects and jobs made through the real
services from real recordings, real services (database, Redis, the providers' sandboxes), and
workers run in-process or as a real `rqworker --burst`."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import django_rq
import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from django.db import connection

from accounts.models import Membership, User
from accounts.services import team_ensure_personal
from audio.probe import probe
from jobs.models import SeparationJob
from jobs.services import job_create
from library.models import Project
from library.services import project_create
from providers.stemsets import StemSet

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STEMWEB_SHARED_DIR", ROOT.parent / "shared"))
DEV01 = "dev01_speech_en_female__rock"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared: always present in CI, where its absence fails the test instead of skipping."""
    if not (SHARED / "audio" / "dev").is_dir():
        message = f"../shared test audio not found at {SHARED}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


@pytest.fixture(scope="session")
def dev_dir(shared_dir: Path) -> Path:
    return shared_dir / "audio" / "dev"


@pytest.fixture(scope="session")
def bad_dir(shared_dir: Path) -> Path:
    return shared_dir / "audio" / "bad"


@pytest.fixture
def mixture(dev_dir: Path) -> Path:
    return dev_dir / DEV01 / "mixture.flac"


@pytest.fixture(autouse=True)
def _clean_redis():
    """Every test starts with empty queues and an empty cache (both live in Redis)."""
    django_rq.get_connection("default").flushdb()
    yield


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path, settings):
    """A fresh storage directory per test, so 'nothing left behind' can be checked; static
    files from the finders (no collectstatic manifest in tests)."""
    media = tmp_path / "media"
    media.mkdir()
    settings.STORAGES = {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media},
        },
    }
    settings.MEDIA_ROOT = media
    return media


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


# --- Audio files made for a test: bombs, lying headers, long recordings -----------------------


def write_flac(
    path: Path, seconds: float, *, rate: int = 44100, channels: int = 2, level: float = 0.1
) -> Path:
    """Noise at RMS ``level`` (0: digital silence) as 16-bit FLAC, written one second at a time."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16", format="FLAC") as out:
        for start in range(0, round(seconds * rate), rate):
            frames = min(rate, round(seconds * rate) - start)
            out.write((rng.standard_normal((frames, channels)) * level).astype(np.float32))
    return path


def flac_claiming(
    path: Path, *, frames: int | None = None, channels: int | None = None, rate: int | None = None
) -> Path:
    """Rewrite what a FLAC's header announces, leaving its audio as it was (``frames=0``: "not
    known", as a streaming encoder writes it). STREAMINFO follows "fLaC" and its 4-byte block
    header; its bytes 10..17 hold rate (20 bits), channels - 1 (3), bits - 1 (5) and the total
    frames (36); see https://xiph.org/flac/format.html#metadata_block_streaminfo."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    (packed,) = struct.unpack(">Q", data[18:26])
    old_rate, old_channels = packed >> 44, ((packed >> 41) & 0x7) + 1
    bits, old_frames = (packed >> 36) & 0x1F, packed & (2**36 - 1)
    packed = (
        ((rate or old_rate) << 44)
        | (((channels or old_channels) - 1) << 41)
        | (bits << 36)
        | (old_frames if frames is None else frames)
    )
    data[18:26] = struct.pack(">Q", packed)
    path.write_bytes(data)
    return path


def make_user(email: str, password: str = "a-long-passphrase-42") -> User:
    user = User.objects.create_user(email=email, password=password)
    team_ensure_personal(user=user)
    return user


# --- Personas' projects and jobs, made through the real services from real recordings ---


def make_project(user: User, source: Path, name: str = "Song") -> Project:
    team = Membership.objects.filter(user=user).select_related("team").first().team
    return project_create(
        team=team,
        user=user,
        upload_path=source,
        original_filename=source.name,
        info=probe(source),
        name=name,
    )


def make_job(
    user: User, source: Path, stem_set: str = StemSet.FOREGROUND_BACKGROUND, name: str = "Song"
) -> SeparationJob:
    return job_create(
        project=make_project(user, source, name), user=user, provider_key="local", stem_set=stem_set
    )


def make_finished_job(
    user: User,
    source: Path,
    stem_set: str,
    workdir: Path,
    name: str = "Song",
    provider: str = "finevoice",
    project=None,  # type: ignore[no-untyped-def]
) -> SeparationJob:
    """A succeeded job whose stems are real audio summing to ``source``, stored and measured the
    way a provider's are (the sandbox's splitter makes them)."""
    from jobs.services import StemFile, store_stems
    from providers.sandboxing.stems import split

    job = SeparationJob.objects.create(
        project=project or make_project(user, source, name),
        provider=provider,
        stem_set=stem_set,
        status=SeparationJob.Status.RUNNING,
        created_by=user,
    )
    names = StemSet(stem_set).stem_names
    paths = split(source, names, workdir)
    store_stems(job, [StemFile(n, paths[n]) for n in names], mixture=source)
    return SeparationJob.objects.get(pk=job.pk)


@pytest.fixture
def user(db) -> User:
    return make_user("ada@example.com")


@pytest.fixture
def other_user(db) -> User:
    return make_user("mallory@example.com")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def run_worker_burst(media: Path) -> subprocess.CompletedProcess[str]:
    """Run a real ``rqworker --burst`` in a subprocess against the test database and Redis."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STEMWEB_MEDIA_ROOT": str(media),
        "REDIS_URL": settings.REDIS_URL,
    }
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "rqworker",
            "default",
            "local",
            "--burst",
            "--worker-class",
            "stemweb.worker.StemwebWorker",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


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


# --- Providers over real HTTP against the sandbox ------------------------------------------

SANDBOX_KEY = "sandbox-key"


@pytest.fixture(scope="session")
def sandbox(shared_dir):
    """The provider sandboxes on a free loopback port, for the whole session."""
    from providers.sandboxing.state import Sandbox
    from sandbox.server import serve

    box = Sandbox(api_key=SANDBOX_KEY, callback_scale=0.005)  # retries after 0.3, 1.5, 4.5 s
    for mixture in sorted((shared_dir / "audio" / "dev").glob("*/mixture.flac")):
        box.add_track(mixture.parent.name, "audio-1", mixture)
    httpd, url = serve(box)
    box.url = url
    yield box
    httpd.shutdown()
    box.shutdown()


@pytest.fixture
def providers(sandbox, live_server, settings):
    """Every provider configured against the sandbox; stemweb reachable at the live server."""
    sandbox.clear_faults()
    base = {"api_key": SANDBOX_KEY, "enabled": True, "poll_s": 0.2, "deadline_s": 60}
    settings.STEMWEB_PROVIDERS = {
        "local": {"enabled": True},
        "camb": {**base, "base_url": f"{sandbox.url}/camb/apis"},
        "finevoice": {**base, "base_url": f"{sandbox.url}/finevoice"},
        "suno": {**base, "base_url": f"{sandbox.url}/suno", "poll_s": 2.0},
    }
    settings.STEMWEB_PUBLIC_URL = live_server.url
    settings.STEMWEB_FETCH_ALLOW_HOSTS = ["127.0.0.1", "localhost"]
    settings.STEMWEB_RETRY_BASE_S = 0.1
    settings.STEMWEB_HTTP_READ_TIMEOUT_S = 1.5  # the sandbox's "slow" fault waits 3 s
    return sandbox


def work_due(queue_names=("default", "local")) -> None:
    """One pass of what a worker started ``--with-scheduler`` does: move scheduled jobs that
    are due (``enqueue_in``) onto their queues, then run every queued job with a real RQ worker.
    """
    import time

    from rq import SimpleWorker
    from rq.registry import ScheduledJobRegistry

    queues = [django_rq.get_queue(name) for name in queue_names]
    for queue in queues:
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_jobs_to_schedule(int(time.time())):
            rq_job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if rq_job is not None:
                queue.enqueue_job(rq_job)
    SimpleWorker(queues, connection=queues[0].connection).work(burst=True)


def drain(job, timeout_s: float = 60.0):
    """Work the queues until the job ends; returns the row."""
    import time

    from jobs.models import SeparationJob

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        work_due()
        row = SeparationJob.objects.get(pk=job.pk)
        if row.is_terminal:
            return row
        time.sleep(0.05)
    row = SeparationJob.objects.get(pk=job.pk)
    raise AssertionError(
        f"job {job.pk} still {row.status}: lease until {row.lease_until}, next check due "
        f"{row.next_check_at}, {row.checks} checks, {row.transient_errors} transient errors"
    )
