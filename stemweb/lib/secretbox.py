"""Secrets at rest (team provider keys, webhook secrets), encrypted with Fernet (AES-128-CBC +
HMAC-SHA256, from ``cryptography``).

The key comes from ``STEMWEB_FERNET_KEYS``: comma-separated Fernet keys, newest first, so a key can
be rotated (new values use the first; old values still decrypt). When unset, one key is generated
once into ``var/fernet_key`` for development, like ``SECRET_KEY``.
"""

from __future__ import annotations

import functools
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored value was encrypted with a key that is no longer configured."""


@functools.cache
def _box() -> MultiFernet:
    keys = [k.strip() for k in settings.STEMWEB_FERNET_KEYS.split(",") if k.strip()]
    if not keys:
        path = settings.VAR_DIR / "fernet_key"
        if not path.exists():
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(Fernet.generate_key().decode())
        keys = [path.read_text().strip()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(value: str) -> str:
    return _box().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with STEMWEB_FERNET_KEYS"
        ) from None
