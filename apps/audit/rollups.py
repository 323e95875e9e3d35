"""Keeping ``EventCount`` (the console's hourly and daily counts) up to date with the log.

``event_counts_catch_up`` counts the events after ``RollupState.last_seq`` in one
``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` per batch and moves the watermark in
the same transaction, so every event is counted exactly once even when two workers run it at
the same time (the state row is locked). Only sealed events have a sequence number, so an
event is counted once it is sealed. The beat task runs it every minute and the console's
overview before it reads, so the charts are never more than a moment behind the log.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.models import AccessEvent, EventCount, Granularity, RollupState

BATCH = 100_000
HOURLY_KEPT = timedelta(hours=48)

_KEY = "granularity, bucket, facility_id, facility_name, actor_kind, actor_id, actor_label, action, outcome, reason"
_GROUPED = (
    "coalesce(e.facility_id, 0), e.facility_name, e.actor_kind, e.actor_id, e.actor_label, e.action, "
    "e.outcome, e.reason"
)
_BUCKET = {
    "postgresql": "CASE g.granularity WHEN 'h' THEN date_trunc('hour', e.time) ELSE date_trunc('day', e.time) END",
    "sqlite": (
        "CASE g.granularity WHEN 'h' THEN strftime('%%Y-%%m-%%d %%H:00:00', e.time) "
        "ELSE strftime('%%Y-%%m-%%d 00:00:00', e.time) END"
    ),
}
_GRANULARITIES = {
    "postgresql": "(VALUES ('h'), ('d')) AS g(granularity)",
    "sqlite": "(SELECT 'h' AS granularity UNION ALL SELECT 'd') AS g",
}


def _count_sql(vendor: str) -> str:
    return (
        f"INSERT INTO audit_eventcount ({_KEY}, count) "  # noqa: S608 - every part is a constant above
        f"SELECT g.granularity, {_BUCKET[vendor]}, {_GROUPED}, count(*) "
        f"FROM audit_accessevent e CROSS JOIN {_GRANULARITIES[vendor]} "
        "WHERE e.seq > %s AND e.seq <= %s AND (g.granularity = 'd' OR e.time >= %s) "
        f"GROUP BY g.granularity, {_BUCKET[vendor]}, {_GROUPED} "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET count = audit_eventcount.count + excluded.count"
    )


def event_counts_catch_up(*, batch: int = BATCH, max_batches: int = 100) -> int:
    """Count every sealed event not counted yet; returns the sequence counted up to."""
    head = AccessEvent.objects.aggregate(head=Max("seq"))["head"] or 0
    last = 0
    for _ in range(max_batches):
        with transaction.atomic():
            state, _ = RollupState.objects.select_for_update().get_or_create(pk=1)
            last = state.last_seq
            if last >= head:
                break
            upto = min(last + batch, head)
            cutoff = timezone.now() - HOURLY_KEPT
            with connection.cursor() as cursor:
                cursor.execute(_count_sql(connection.vendor), [last, upto, cutoff])
            RollupState.objects.filter(pk=1).update(last_seq=upto)
            last = upto
    EventCount.objects.filter(granularity=Granularity.HOUR, bucket__lt=timezone.now() - HOURLY_KEPT).delete()
    return last
