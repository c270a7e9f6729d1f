"""Test storage: a fresh local folder per test, or (``@pytest.mark.s3``) a fresh bucket on
moto's S3 server, a real S3 endpoint over HTTP; and reading back what was stored or
downloaded, on either."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import httpx
import numpy as np
import pytest
import soundfile as sf
from django.conf import settings

from stemweb.config import s3_storage
from stemweb.lib.storage import iter_stored

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
