"""The Redis cache backend keeps one redis-py client per connection pool, against the test run's
real Redis; the rest is Django's backend."""

from __future__ import annotations

from django.core.cache import cache, caches

from stemweb.lib.rediscache import RedisCache


def test_the_configured_cache_is_stemwebs_backend():
    assert isinstance(caches["default"], RedisCache)


def test_every_operation_reuses_one_client():
    backend = caches["default"]  # one per thread, as Django keeps them
    backend.set("rediscache:probe", 1)
    first = backend._cache.get_client()
    backend.get("rediscache:probe")
    assert backend._cache.get_client() is first
    assert backend._cache.get_client(write=True) is first  # one server: one pool


def test_it_still_caches_as_django_does():
    cache.set("rediscache:a", {"x": 1}, 30)
    cache.set_many({"rediscache:b": "two", "rediscache:n": 5}, 30)
    assert cache.get("rediscache:a") == {"x": 1}
    assert cache.get_many(["rediscache:a", "rediscache:b", "rediscache:none"]) == {
        "rediscache:a": {"x": 1},
        "rediscache:b": "two",
    }
    assert cache.incr("rediscache:n", 2) == 7
    assert cache.add("rediscache:b", "other") is False
    assert cache.delete("rediscache:a") is True
    assert cache.get("rediscache:a", "gone") == "gone"
