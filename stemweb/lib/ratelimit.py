"""Fixed-window rate limits counted in Django's cache (Redis, shared by every web server).

A rate is written "COUNT/SECONDS" (``"10/60"``: ten in any minute-long window); an empty value
or ``0`` turns the limit off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: int

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"10/60"`` as a Rate; None for an empty or zero rate (no limit).

        Raises:
            ValueError: not of the form COUNT/SECONDS with positive seconds.
        """
        text = text.strip()
        if text in {"", "0"}:
            return None
        count, _, period = text.partition("/")
        rate = cls(int(count), int(period))
        if rate.period_s <= 0 or rate.count < 0:
            raise ValueError(f"a rate is COUNT/SECONDS, got {text!r}")
        return rate if rate.count else None


def hit(key: str, rate: Rate, amount: int = 1) -> float | None:
    """Count ``amount`` events for ``key`` in the current window of ``rate``.

    Returns None while within the rate, else the seconds until the window ends (the events are
    counted either way, so hammering does not reset the window).
    """
    now = time.time()
    window = int(now // rate.period_s)
    cache_key = f"rate:{key}:{rate.period_s}:{window}"
    cache.add(cache_key, 0, timeout=rate.period_s + 1)
    total = cache.incr(cache_key, amount)
    if total > rate.count:
        return (window + 1) * rate.period_s - now
    return None
