"""The bundled Redis: started on a port of our choosing again, it keeps its data."""

from __future__ import annotations

from pathlib import Path

import redis

from stemweb.lib import embedded_redis


def test_it_starts_again_on_the_same_port_with_its_data(tmp_path: Path):
    first = embedded_redis.start(tmp_path / "redis")
    try:
        redis.Redis.from_url(first.url).set("queued", "work")
    finally:
        first.stop()
    assert not embedded_redis.answers(first.url)
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    again = embedded_redis.start(tmp_path / "redis", port=port)
    try:
        assert again.url == first.url
        assert redis.Redis.from_url(again.url).get("queued") == b"work"
    finally:
        again.stop()
