"""Per-reviewer rate limits, and the fixed-window counters the alert rules count with.

Counters live in the cache (Redis when configured), keyed by the reviewer's user id and never by
client address: a reviewer cannot shed a limit by changing address, and colleagues behind one
facility NAT never share one.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from apps.accounts.selectors import ReviewerSnapshot
from reviewsvc.errors import AccessDenied

HOUR = 3600
DAY = 24 * HOUR


def _limits() -> dict[str, int]:
    return {"lease": settings.REVIEWSVC_LEASES_PER_HOUR, "audio": settings.REVIEWSVC_AUDIO_REQUESTS_PER_HOUR}


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


def limit_take(*, kind: str, reviewer: ReviewerSnapshot, action: str) -> None:
    """Count one ``kind`` (lease | audio) for the reviewer this hour; refuse beyond the cap."""
    limit = _limits()[kind]
    if window_count(f"reviews:limit:{kind}:{reviewer.user_id}", window=HOUR) > limit:
        raise AccessDenied(
            "rate_limited",
            audit={"action": action, "facility_id": reviewer.facility_id, "extra": {"limit": limit, "kind": kind}},
        )
