"""Reads behind the auditors' console: counts over time, a clip's story, baselines, integrity.

Counts come from ``EventCount`` (apps/audit/rollups.py), never from counting the log itself,
so an overview over 30 days of a million events reads a few thousand rows. Lists of events
(a clip's story, a reviewer's sessions) read the log through its indexes, newest first and
bounded.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from apps.audit.models import (
    AccessEvent,
    Checkpoint,
    EventCount,
    Granularity,
    Outcome,
    VerificationRun,
)
from apps.common.keys import key_provider
from reviewsvc.audit.insights import BASELINE_DAYS, Baseline, baseline_flag, bytes_heard

WINDOWS: dict[str, tuple[str, int]] = {
    "24h": (Granularity.HOUR, 24),
    "7d": (Granularity.DAY, 7),
    "30d": (Granularity.DAY, 30),
}
DEFAULT_WINDOW = "7d"
PLAY = "clip.audio"
OFF_HOURS = "alert.outside_hours"
STORY_LIMIT = 2000
LIST_LIMIT = 200


@dataclass(frozen=True)
class SeriesPoint:
    bucket: datetime
    granted: int
    denied: int


def _floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if granularity == Granularity.DAY else moment


def window_buckets(window: str, *, now: datetime | None = None) -> tuple[str, list[datetime]]:
    """The granularity and the bucket starts of ``window``, oldest first, ending with the current one."""
    granularity, count = WINDOWS[window]
    step = timedelta(hours=1) if granularity == Granularity.HOUR else timedelta(days=1)
    last = _floor(now or timezone.now(), granularity)
    return granularity, [last - step * (count - 1 - index) for index in range(count)]


def _counts(window: str, *, now: datetime | None = None, **scope) -> QuerySet[EventCount]:
    granularity, buckets = window_buckets(window, now=now)
    return EventCount.objects.filter(granularity=granularity, bucket__gte=buckets[0], **scope)


def activity_series(*, window: str, now: datetime | None = None, **scope) -> list[SeriesPoint]:
    """Granted and denied events per bucket of ``window``, every bucket present."""
    _, buckets = window_buckets(window, now=now)
    totals: dict[tuple[datetime, str], int] = {}
    rows = _counts(window, now=now, **scope).values("bucket", "outcome").annotate(total=Sum("count"))
    for row in rows:
        totals[(row["bucket"], row["outcome"])] = row["total"]
    return [
        SeriesPoint(bucket, totals.get((bucket, Outcome.GRANTED), 0), totals.get((bucket, Outcome.DENIED), 0))
        for bucket in buckets
    ]


def counts_by(
    *, window: str, fields: tuple[str, ...], limit: int = 10, now: datetime | None = None, **scope
) -> list[dict]:
    """The largest totals in ``window`` grouped by ``fields``, largest first."""
    rows = _counts(window, now=now, **scope).values(*fields).annotate(total=Sum("count")).order_by("-total", *fields)
    return list(rows[:limit])


@dataclass(frozen=True)
class Overview:
    window: str
    series: list[SeriesPoint]
    plays_by_facility: list[dict]
    plays_by_reviewer: list[dict]
    denials_by_reason: list[dict]
    alerts: list[AccessEvent]
    integrity: IntegrityStatus


def overview(*, window: str, now: datetime | None = None) -> Overview:
    plays = {"action": PLAY, "outcome": Outcome.GRANTED}
    return Overview(
        window=window,
        series=activity_series(window=window, now=now),
        plays_by_facility=counts_by(window=window, fields=("facility_id", "facility_name"), now=now, **plays),
        plays_by_reviewer=counts_by(
            window=window, fields=("actor_id", "actor_label"), now=now, actor_kind="reviewer", **plays
        ),
        denials_by_reason=counts_by(window=window, fields=("reason",), now=now, outcome=Outcome.DENIED),
        alerts=alert_list(limit=10),
        integrity=integrity_status(),
    )


def alert_list(*, limit: int = LIST_LIMIT, since: datetime | None = None) -> list[AccessEvent]:
    """Alerts the service raised, newest first (each is an ``alert.*`` event with its evidence in extra)."""
    events = AccessEvent.objects.filter(action__startswith="alert.")
    if since is not None:
        events = events.filter(time__gte=since)
    return list(events.order_by("-seq")[:limit])


@dataclass(frozen=True)
class IntegrityStatus:
    last_seq: int
    last_checkpoint: Checkpoint | None
    last_run: VerificationRun | None
    key_fingerprint: str


def signing_key_fingerprint() -> str:
    """SHA-256 of the checkpoint signing key's raw public key, hex: what an auditor compares out of band."""
    return hashlib.sha256(key_provider().signing_public_key()).hexdigest()


def integrity_status() -> IntegrityStatus:
    return IntegrityStatus(
        last_seq=AccessEvent.objects.aggregate(head=Max("seq"))["head"] or 0,
        last_checkpoint=Checkpoint.objects.order_by("-size").first(),
        last_run=VerificationRun.objects.order_by("-created_at").first(),
        key_fingerprint=signing_key_fingerprint(),
    )


@dataclass(frozen=True)
class Listener:
    actor_label: str
    actor_id: str
    requests: int
    bytes_heard: int
    size: int
    addresses: list[str]

    @property
    def share(self) -> float:
        return self.bytes_heard / self.size if self.size else 0.0


@dataclass(frozen=True)
class ClipStory:
    events: list[AccessEvent]
    listeners: list[Listener]
    truncated: bool


def clip_story(*, clip_id) -> ClipStory:
    """Everything the log holds about one clip, oldest first, and how much each person heard."""
    events = list(AccessEvent.objects.filter(clip_id=clip_id).order_by("seq")[: STORY_LIMIT + 1])
    truncated = len(events) > STORY_LIMIT
    events = events[:STORY_LIMIT]
    ranges: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    sizes: dict[tuple[str, str], int] = {}
    addresses: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event in events:
        if event.action != PLAY or event.outcome != Outcome.GRANTED:
            continue
        who = (event.actor_label, event.actor_id)
        first, last = event.extra.get("range", (0, -1))
        if last >= first:
            ranges[who].append((first, last))
        sizes[who] = event.extra.get("size", sizes.get(who, 0))
        addresses[who].add(event.client_address)
    listeners = [
        Listener(
            label,
            actor_id,
            len(spans),
            bytes_heard(spans),
            sizes[(label, actor_id)],
            sorted(addresses[(label, actor_id)]),
        )
        for (label, actor_id), spans in ranges.items()
    ]
    listeners.sort(key=lambda listener: (-listener.bytes_heard, listener.actor_label))
    return ClipStory(events=events, listeners=listeners, truncated=truncated)


SESSION_ACTIONS = ("auth.login", "auth.logout", "auth.session_timeout", "auth.login_failed", "auth.lockout")
STATUS_ACTIONS = ("reviewer.suspend", "reviewer.offboard", "reviewer.reenrol", "reviewer.change", "vetting.record")


def reviewer_events(
    *, actor_id: str, actions: tuple[str, ...] | None = None, outcome: str | None = None, limit: int = LIST_LIMIT
) -> list[AccessEvent]:
    events = AccessEvent.objects.filter(actor_kind="reviewer", actor_id=actor_id)
    if actions:
        events = events.filter(action__in=actions)
    if outcome:
        events = events.filter(outcome=outcome)
    return list(events.order_by("-seq")[:limit])


def reviewer_status_changes(*, username: str, limit: int = LIST_LIMIT) -> list[AccessEvent]:
    """Vetting and status changes made to a reviewer (by staff or the system), newest first."""
    quoted = f'"username":"{username}"'
    events = AccessEvent.objects.filter(action__in=STATUS_ACTIONS).filter(
        Q(extra__contains=quoted) | Q(actor_label=username)
    )
    return list(events.order_by("-seq")[:limit])


def clips_heard(*, limit: int = LIST_LIMIT, **scope) -> list[dict]:
    """Clips with a granted play, most recent first, with the number of audio requests."""
    rows = (
        AccessEvent.objects.filter(action=PLAY, outcome=Outcome.GRANTED, **scope)
        .values("clip_id")
        .annotate(last=Max("seq"), requests=Count("seq"))
        .order_by("-last")
    )
    return list(rows[:limit])


def facility_events(
    *, facility_id: int, actions: tuple[str, ...] | None = None, outcome: str | None = None, limit: int = LIST_LIMIT
) -> list[AccessEvent]:
    events = AccessEvent.objects.filter(facility_id=facility_id)
    if actions:
        events = events.filter(action__in=actions)
    if outcome:
        events = events.filter(outcome=outcome)
    return list(events.order_by("-seq")[:limit])


@dataclass(frozen=True)
class BaselineRow:
    kind: str  # "reviewer" or "facility"
    key: str  # actor id or facility id
    label: str
    metrics: list[Baseline]

    @property
    def flagged(self) -> bool:
        return any(metric.flagged for metric in self.metrics)


_METRICS = {
    "plays": Q(action=PLAY, outcome=Outcome.GRANTED),
    "denials": Q(outcome=Outcome.DENIED),
    "off_hours": Q(action=OFF_HOURS),
}


def baselines(*, now: datetime | None = None) -> list[BaselineRow]:
    """Every reviewer's and facility's counts today against their own previous 14 days; flagged first."""
    today = _floor(now or timezone.now(), Granularity.DAY)
    start = today - timedelta(days=BASELINE_DAYS)
    days = {start + timedelta(days=offset): offset for offset in range(BASELINE_DAYS + 1)}
    daily = EventCount.objects.filter(granularity=Granularity.DAY, bucket__gte=start, bucket__lte=today)
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * (BASELINE_DAYS + 1))
    labels: dict[tuple[str, str], str] = {}
    for metric, condition in _METRICS.items():
        for kind, id_field, label_field, extra in (
            ("reviewer", "actor_id", "actor_label", Q(actor_kind="reviewer")),
            ("facility", "facility_id", "facility_name", ~Q(facility_id=0)),
        ):
            rows = daily.filter(condition & extra).values("bucket", id_field, label_field).annotate(total=Sum("count"))
            for row in rows:
                key = str(row[id_field])
                counts[(kind, key, metric)][days[row["bucket"]]] += row["total"]
                labels[(kind, key)] = row[label_field]
    result = []
    for (kind, key), label in labels.items():
        metrics = []
        for metric in _METRICS:
            series = counts.get((kind, key, metric), [0] * (BASELINE_DAYS + 1))
            metrics.append(baseline_flag(metric=metric, today=series[-1], history=series[:-1]))
        result.append(BaselineRow(kind=kind, key=key, label=label, metrics=metrics))
    result.sort(key=lambda row: (not row.flagged, row.kind, row.label))
    return result
