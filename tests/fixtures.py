"""Shared test fixtures and personas: the shared recordings, users and teams, projects and jobs
made through the real services from real recordings, and audio files made for a test. Storage
is in tests/storage.py, browsers in tests/browser.py, providers and workers in
tests/workers.py (all registered in conftest.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_rq
import numpy as np
import pytest
import soundfile as sf
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Team, User
from accounts.services import provider_key_set, team_ensure_personal
from api.services import token_create
from audio.probe import probe
from downloads.models import CustomMix
from jobs.models import SeparationJob
from jobs.services import StemFile, job_create, store_stems
from library.models import Project
from library.services import project_create
from providers.sandboxing.stems import split
from providers.stemsets import StemSet

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``condition`` every 20 ms until it returns something true, and return that; fail
    naming ``what`` after ``timeout_s`` (generous: a busy machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)
    return result


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
