"""Shared test fixtures and personas: users and teams, projects and jobs made through the real
services from real recordings, real services (database, Redis, the providers' sandboxes), and
workers run in-process or as a real `rqworker --burst`."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import django_rq
import httpx
import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from accounts.models import Invitation, Membership, Team, User
from accounts.services import provider_key_set, team_ensure_personal
from api.services import token_create
from audio.probe import probe
from downloads.models import CustomMix
from jobs.checker import check_due
from jobs.models import SeparationJob
from jobs.services import StemFile, job_create, store_stems
from library.models import Project
from library.services import project_create
from providers.sandboxing.state import Sandbox
from providers.sandboxing.stems import split
from providers.stemsets import StemSet
from sandbox.server import serve
from stemweb.config import s3_storage
from stemweb.lib.storage import iter_stored

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


# --- Storage: a fresh local folder per test, or a fresh bucket on a real S3 endpoint ------------

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "stemweb-tests",
    "AWS_SECRET_ACCESS_KEY": "stemweb-tests",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Stored:
    """The default storage of one test: ``kind`` "local" (files under ``media``) or "s3" (a
    bucket of its own on moto's S3 server at ``endpoint``)."""

    kind: str
    media: Path
    bucket: str = ""
    endpoint: str = ""

    def client(self) -> Any:
        """A boto3 S3 client for the test's endpoint (S3 only)."""
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def names(self) -> list[str]:
        """Every stored file's storage name ("projects/<id>/source.flac"), sorted."""
        if self.kind == "local":
            files = (p for p in self.media.rglob("*") if p.is_file())
            return sorted(p.relative_to(self.media).as_posix() for p in files)
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def basenames(self) -> list[str]:
        """The last part of every stored file's name, sorted."""
        return sorted(PurePosixPath(name).name for name in self.names())

    def read(self, name: str) -> bytes:
        """The bytes stored under ``name``, read behind the storage's back."""
        if self.kind == "local":
            return (self.media / name).read_bytes()
        return self.client().get_object(Bucket=self.bucket, Key=name)["Body"].read()

    def worker_env(self) -> dict[str, str]:
        """What a worker in another process needs to use this storage."""
        if self.kind == "local":
            return {"STEMWEB_MEDIA_ROOT": str(self.media)}
        return {
            "STEMWEB_S3_BUCKET": self.bucket,
            "STEMWEB_S3_ENDPOINT_URL": self.endpoint,
            **S3_CREDENTIALS,
        }


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """moto's S3 server (``moto[server]``) in its own process on a free loopback port: real
    S3 requests over HTTP, signed by boto3 as for AWS. Its URL."""
    os.environ.update(S3_CREDENTIALS)
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            break
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's S3 server did not start: see {log.name}") from None
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.s3``: the test runs twice, on local files and on S3."""
    if metafunc.definition.get_closest_marker("s3"):
        metafunc.parametrize("stored", ["local", "s3"], indirect=True)


@pytest.fixture(autouse=True)
def stored(request, tmp_path: Path, settings) -> Iterator[Stored]:
    """A fresh, empty default storage per test, so 'nothing left behind' can be checked:
    local files under ``tmp_path/media``, or (``@pytest.mark.s3``) a new bucket on moto's S3
    server, removed with what is left in it afterwards. Static files from the finders (no
    collectstatic manifest in tests)."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    kind = getattr(request, "param", "local")
    if kind == "local":
        settings.STORAGES = {
            "staticfiles": static,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": media},
            },
        }
        yield Stored("local", media)
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    store = Stored("s3", media, bucket=f"stemweb-test-{uuid.uuid4().hex[:16]}", endpoint=endpoint)
    client = store.client()
    client.create_bucket(Bucket=store.bucket)
    settings.S3_BUCKET, settings.S3_ENDPOINT_URL, settings.S3_REGION = store.bucket, endpoint, ""
    settings.STORAGES = {"staticfiles": static, "default": s3_storage(store.bucket, endpoint, "")}
    yield store
    for name in store.names():
        client.delete_object(Bucket=store.bucket, Key=name)
    client.delete_bucket(Bucket=store.bucket)


def read_stored_audio(field: Any, **kwargs: Any) -> tuple[np.ndarray, int]:
    """``soundfile.read`` of a stored file, on local files or S3 alike."""
    return sf.read(io.BytesIO(b"".join(iter_stored(field))), **kwargs)


@dataclass
class Fetched:
    """A download as the browser ends up with it."""

    status: int
    headers: Any
    body: bytes


def fetch_download(client: Any, url: str) -> Fetched:
    """GET a download link with the test client and, when stemweb answers with a redirect to a
    presigned S3 link, follow it over HTTP to the S3 server, as a browser does."""
    response = client.get(url)
    location = response.headers.get("Location", "")
    if response.status_code == 302 and settings.S3_BUCKET and location.startswith("http"):
        assert location.startswith(f"{settings.S3_ENDPOINT_URL}/{settings.S3_BUCKET}/")
        s3 = httpx.get(location, timeout=30)
        return Fetched(s3.status_code, s3.headers, s3.content)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return Fetched(response.status_code, response.headers, body)


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


def make_token(
    user: User, role: str = "member", team: Team | None = None, name: str = "script"
) -> str:
    """A personal access token of ``user`` in ``team`` (default: their first team), made by
    the real service; returns the plain token."""
    memberships = Membership.objects.filter(user=user).select_related("team")
    membership = memberships.get(team=team) if team is not None else memberships.first()
    _, raw = token_create(membership=membership, name=name, role=role)
    return raw


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


_SPLIT_DIR = tempfile.mkdtemp(prefix="stemweb-test-splits-")
atexit.register(shutil.rmtree, _SPLIT_DIR, ignore_errors=True)
_SPLITS: dict[tuple[Path, tuple[str, ...]], dict[str, Path]] = {}


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
    job = SeparationJob.objects.create(
        project=project or make_project(user, source, name),
        provider=provider,
        stem_set=stem_set,
        status=SeparationJob.Status.RUNNING,
        created_by=user,
    )
    names = StemSet(stem_set).stem_names
    key = (source, tuple(names))
    if key not in _SPLITS:  # the engine is deterministic: split each recording once a session
        _SPLITS[key] = split(source, names, Path(tempfile.mkdtemp(dir=_SPLIT_DIR)))
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {n: Path(shutil.copy(_SPLITS[key][n], workdir / _SPLITS[key][n].name)) for n in names}
    store_stems(job, [StemFile(n, paths[n]) for n in names], mixture=source)
    return SeparationJob.objects.get(pk=job.pk)


def furnish(owner: User, job: SeparationJob, *, invitee: str, camb_key: str, token: str) -> Any:
    """What a team's pages show besides its projects, for ``owner``'s team: a pending
    invitation of ``invitee``, a CAMB.AI key, ``owner``'s personal access token named ``token``
    and a ready custom mix of ``job`` (a stored stub file). Returns (invitation, mix)."""
    team = job.project.team
    invitation = Invitation.objects.create(
        team=team,
        email=invitee,
        role="member",
        invited_by=owner,
        expires=timezone.now() + timedelta(days=1),
    )
    provider_key_set(team=team, provider="camb", key=camb_key, user=owner)
    make_token(owner, name=token)
    mix = CustomMix.objects.create(
        job=job,
        name="Karaoke",
        gains_db={stem.name: 0.0 for stem in job.stems.all()},
        format="wav",
        state="ready",
        file=default_storage.save("mixes/karaoke.wav", ContentFile(b"RIFF")),
    )
    return invitation, mix


@pytest.fixture
def running_job(user: User, mixture: Path) -> SeparationJob:
    """A job of ``user``'s, running at 42 %, as its status poll sees it."""
    job = make_job(user, mixture)
    SeparationJob.objects.filter(pk=job.pk).update(
        status=SeparationJob.Status.RUNNING, progress=0.42, started=timezone.now()
    )
    return job


def poll_status(client: Any, job: SeparationJob, etag: str | None = None, **extra: Any) -> Any:
    """The job page's htmx status poll, with ``If-None-Match`` when ``etag`` is given."""
    headers = {"HTTP_HX_REQUEST": "true", **({"HTTP_IF_NONE_MATCH": etag} if etag else {})}
    return client.get(reverse("job_detail", args=[job.pk]), **headers, **extra)


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


def process_env(stored: Stored) -> dict[str, str]:
    """The environment of a stemweb process (a worker, the checker) run by a test: this
    process's, pointed at the test database, Redis and storage."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        **stored.worker_env(),
    }


def run_worker_burst(stored: Stored) -> subprocess.CompletedProcess[str]:
    """Run a real ``rqworker --burst`` in a subprocess against the test database, Redis and
    storage."""
    env = process_env(stored)
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


AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser bundle, from npm (package.json; `make install-dev` runs `npm ci`)."""
    if not AXE_JS.exists():
        message = f"{AXE_JS} is missing: make install-dev runs npm ci"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_JS.read_text()


def axe_violations(page: Any, axe_source: str) -> list[str]:
    """axe-core's serious and critical violations on ``page`` as it stands, one line per rule:
    "rule-id (impact): help: the first offending elements". Every rule axe-core runs by default
    (WCAG 2.0-2.2 A and AA, and best practices). axe is evaluated through the DevTools
    protocol, which the page's Content-Security-Policy does not govern, so the page is tested
    with its real policy."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: {', '.join(v['targets'])}"
        for v in found
        if v["impact"] in AXE_IMPACTS
    ]


# --- Providers over real HTTP against the sandbox ------------------------------------------

SANDBOX_KEY = "sandbox-key"


@pytest.fixture(scope="session")
def sandbox(shared_dir):
    """The provider sandboxes on a free loopback port, for the whole session."""
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
    """One pass of what the checker and a worker started ``--with-scheduler`` do: check the
    remote jobs that are due (``jobs.checker.check_due``), move scheduled RQ jobs that are due
    (``enqueue_in``) onto their queues, then run every queued job with a real RQ worker.
    """
    check_due()

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
