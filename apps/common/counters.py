"""Fixed-window counters in the cache (Redis when configured), shared by every worker process."""

from __future__ import annotations

import time

from django.core.cache import cache


def window_count(key: str, *, window: int, amount: int = 1) -> int:
    """Add ``amount`` to the fixed-window counter ``key`` and return its new value."""
    bucket = f"{key}:{int(time.time()) // window}"
    if cache.add(bucket, amount, timeout=window + 60):
        return amount
    try:
        return cache.incr(bucket, amount)
    except ValueError:  # evicted between add and incr: start the window again
        cache.add(bucket, amount, timeout=window + 60)
        return amount


def window_end(window: int) -> int:
    """The Unix time at which the current ``window``-second window ends."""
    return (int(time.time()) // window + 1) * window
