"""Fixed-window counters that every worker process shares.

With Redis configured they live there (``add`` then ``incr``, both atomic in Redis). Without it —
the embedded default, several gunicorn workers and no shared memory — they live in the database:
one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per count, atomic on PostgreSQL and on
SQLite alike, so two workers can neither both see the same value nor loosen a limit by counting
apart. A per-process cache would do both.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from apps.common.models import Counter
from reviewsvc.errors import ServiceError


class CounterUnavailable(ServiceError):
    """The counters' store (Redis) cannot be reached: a limit that cannot count refuses."""

    def __init__(self) -> None:
        super().__init__("service_unavailable")


_UPSERT_SQL = (
    "INSERT INTO common_counter (key, value, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = common_counter.value + excluded.value RETURNING value"
)


def window_count(key: str, *, window: int, amount: int = 1) -> int:
    """Add ``amount`` to the current ``window``-second window of ``key``; returns the new count."""
    bucket = f"{key}:{int(time.time()) // window}"
    if settings.REDIS_URL:
        return _cache_increment(bucket, timeout=window + 60, amount=amount)
    expires_at = timezone.now() + timedelta(seconds=window + 60)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, [bucket, amount, expires_at])
        return int(cursor.fetchone()[0])


def window_end(window: int) -> int:
    """The Unix time at which the current ``window``-second window ends."""
    return (int(time.time()) // window + 1) * window


_CLAIM_SQL = (
    "INSERT INTO common_counter (key, value, expires_at) VALUES (%s, 1, %s) ON CONFLICT (key) DO UPDATE SET "
    "value = CASE WHEN common_counter.expires_at <= %s THEN 1 ELSE common_counter.value + 1 END, "
    "expires_at = CASE WHEN common_counter.expires_at <= %s THEN excluded.expires_at "
    "ELSE common_counter.expires_at END RETURNING value"
)


def counter_claim(*, key: str, seconds: int) -> bool:
    """True for the first claim of ``key`` within ``seconds`` of it, in whichever worker."""
    if settings.REDIS_URL:
        try:
            return bool(cache.add(key, 1, timeout=seconds))
        except Exception as exc:
            raise CounterUnavailable from exc
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [key, now + timedelta(seconds=seconds), now, now])
        return int(cursor.fetchone()[0]) == 1


def _cache_increment(bucket: str, *, timeout: int, amount: int) -> int:
    try:
        if cache.add(bucket, amount, timeout=timeout):
            return amount
        try:
            return cache.incr(bucket, amount)
        except ValueError:  # evicted between add and incr: start the window again
            cache.add(bucket, amount, timeout=timeout)
            return amount
    except Exception as exc:  # the backend's own connection errors (redis-py's, for one)
        raise CounterUnavailable from exc


def counters_purge(*, now=None) -> int:
    """Drop the database counters of windows that are over."""
    deleted, _ = Counter.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
