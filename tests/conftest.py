from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from accounts.services import team_ensure_personal

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


def make_user(email: str, password: str = "a-long-passphrase-42") -> User:
    user = User.objects.create_user(email=email, password=password)
    team_ensure_personal(user=user)
    return user


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
