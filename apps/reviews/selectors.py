"""The review workflow's reads that decide nothing: what a reviewer sees of their own progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.accounts.selectors import ReviewerSnapshot
from apps.clips.models import Clip, ClipStatus
from apps.reviews.models import Assignment, Transcript

# The queue is counted up to here: a reviewer needs "plenty", and the count stays one short
# index scan however long the queue grows.
QUEUE_COUNT_CAP = 1000


@dataclass(frozen=True)
class ReviewerProgress:
    done_session: int
    done_today: int
    worked_seconds_session: int
    worked_seconds_today: int
    queue_size: int
    queue_size_capped: bool


def _facility_day_start(*, timezone_name: str, now: datetime) -> datetime:
    try:
        zone = ZoneInfo(timezone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _seconds_leased(rows: list[tuple[datetime, datetime, datetime | None]], *, since: datetime, now: datetime) -> int:
    """Seconds of lease time after ``since``: a lease counts until it ended (an expired one at its
    expiry, not at the later sweep), or until now while it runs."""
    total = timedelta()
    for leased_at, expires_at, ended_at in rows:
        end = min(ended_at or now, expires_at)
        start = max(leased_at, since)
        if end > start:
            total += end - start
    return int(total.total_seconds())


def reviewer_progress(*, reviewer: ReviewerSnapshot, session_started_at: datetime, now: datetime) -> ReviewerProgress:
    """Clips this reviewer finished this session and today (the facility's day), lease time spent,
    and how many clips wait in their languages and regions: a count, nothing about the clips."""
    day_start = _facility_day_start(timezone_name=reviewer.facility_timezone, now=now)
    since = min(day_start, session_started_at)
    submitted = list(
        Transcript.objects.filter(reviewer_id=reviewer.user_id, submitted_at__gte=since).values_list(
            "submitted_at", flat=True
        )
    )
    leases = list(
        Assignment.objects.filter(reviewer_id=reviewer.user_id, expires_at__gte=since).values_list(
            "leased_at", "expires_at", "ended_at"
        )
    )
    queued = Clip.objects.filter(
        status=ClipStatus.QUEUED,
        language__in=reviewer.languages,
        region__in=reviewer.facility_regions,
        subject__opted_out=False,
        wrapped_key__isnull=False,
    ).values("pk")[:QUEUE_COUNT_CAP]
    queue_size = queued.count()
    return ReviewerProgress(
        done_session=sum(1 for at in submitted if at >= session_started_at),
        done_today=sum(1 for at in submitted if at >= day_start),
        worked_seconds_session=_seconds_leased(leases, since=session_started_at, now=now),
        worked_seconds_today=_seconds_leased(leases, since=day_start, now=now),
        queue_size=queue_size,
        queue_size_capped=queue_size >= QUEUE_COUNT_CAP,
    )
