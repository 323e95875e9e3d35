"""Per-reviewer rate limits, and the fixed-window counters the alert rules count with.

Counters are shared by every worker process (Redis when configured, else the database: see
apps/common/counters.py), keyed by the reviewer's user id and never by
client address: a reviewer cannot shed a limit by changing address, and colleagues behind one
facility NAT never share one.
"""

from __future__ import annotations

from django.conf import settings

from apps.accounts.selectors import ReviewerSnapshot
from apps.common.counters import window_count
from reviewsvc.errors import AccessDenied

HOUR = 3600
DAY = 24 * HOUR


def _limits() -> dict[str, int]:
    return {"lease": settings.REVIEWSVC_LEASES_PER_HOUR, "audio": settings.REVIEWSVC_AUDIO_REQUESTS_PER_HOUR}


def limit_take(*, kind: str, reviewer: ReviewerSnapshot, action: str) -> None:
    """Count one ``kind`` (lease | audio) for the reviewer this hour; refuse beyond the cap."""
    limit = _limits()[kind]
    if window_count(f"reviews:limit:{kind}:{reviewer.user_id}", window=HOUR) > limit:
        raise AccessDenied(
            "rate_limited",
            audit={"action": action, "facility_id": reviewer.facility_id, "extra": {"limit": limit, "kind": kind}},
        )
