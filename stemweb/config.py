"""How ``stemweb.settings`` reads its configuration: environment variables parsed, the
generated secret key, and the dicts built from them (S3 storage, a provider, the S3 origins the
Content-Security-Policy allows). Plain functions; the settings module calls them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once into ``var_dir/secret_key``."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def s3_storage(bucket: str, endpoint_url: str, region: str) -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry for django-storages' S3Storage: private objects (no
    ACL, links presigned on demand with Signature Version 4, which every AWS region and
    S3-compatible store accepts; links live at most 7 days), uploads never overwriting an object
    of the same name. Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``... or an
    instance role)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            "default_acl": None,
            "querystring_auth": True,
            "signature_version": "s3v4",
            "file_overwrite": False,
        },
    }


def provider_config(key: str, base_url: str, poll_s: float, deadline_s: float) -> dict:
    """A remote provider's settings from ``STEMWEB_<KEY>_API_KEY``, ``_BASE_URL``, ``_ENABLED``,
    ``_POLL_S`` and ``_DEADLINE_S``, with these defaults."""
    prefix = f"STEMWEB_{key.upper()}_"
    api_key = env_str(prefix + "API_KEY")
    return {
        "api_key": api_key,
        "base_url": env_str(prefix + "BASE_URL", base_url).rstrip("/"),
        "enabled": env_bool(prefix + "ENABLED", True),  # offered once a key is known
        "poll_s": float(env_str(prefix + "POLL_S") or poll_s),
        "deadline_s": float(env_str(prefix + "DEADLINE_S") or deadline_s),
    }


def s3_media_origins(bucket: str, endpoint_url: str, region: str) -> list[str]:
    """The origins of the presigned links ``stemweb.lib.serving.serve_stored`` redirects the
    players to, as boto3 builds them: path-style at a custom endpoint (``scheme://host[:port]``);
    at AWS, the bucket's virtual host (global, and regional when a region is set), or path-style
    at the S3 endpoint for a bucket name with dots. Empty without a bucket (local storage)."""
    if not bucket:
        return []
    if endpoint_url:
        endpoint = urlsplit(endpoint_url)
        return [f"{endpoint.scheme}://{endpoint.netloc}"]
    if "." in bucket:
        return [f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"]
    return [f"https://{bucket}.s3.amazonaws.com"] + (
        [f"https://{bucket}.s3.{region}.amazonaws.com"] if region else []
    )
