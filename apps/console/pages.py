"""The auditors' console: server-rendered, read-only pages over the access log.

Every view is guarded by ``auditor_page`` (apps/console/access.py), which also records the view.
Views gather with the audit, facilities, accounts and privacy selectors and render; they
decide nothing themselves. No script: charts are SVG the server writes (reviewsvc/charts.py),
sorting and paging are links, the verification page refreshes itself with a meta tag.
"""

from __future__ import annotations

import base64
import binascii
import json
import zoneinfo
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.accounts.selectors import reviewer_by_user_id, reviewer_devices
from apps.audit.apis import FilterSerializer, filtered_events
from apps.audit.models import AccessEvent, Checkpoint, Outcome, VerificationRun
from apps.audit.rollups import event_counts_catch_up
from apps.audit.selectors import CheckpointUnreadable, checkpoints_by_source
from apps.audit.services import verification_start
from apps.audit.statistics import (
    DEFAULT_WINDOW,
    PLAY,
    SESSION_ACTIONS,
    WINDOWS,
    activity_series,
    alert_list,
    baselines,
    clip_story,
    clips_heard,
    counts_by,
    facility_events,
    integrity_status,
    overview,
    reviewer_events,
    reviewer_status_changes,
)
from apps.audit.verification import verification_progress
from apps.common.context import context_from_request
from apps.console.access import auditor_page
from apps.facilities.selectors import facility_get, facility_timezones
from apps.privacy.selectors import access_log_entries, reviewer_accesses
from reviewsvc.charts import Bar, Column, bar_chart, column_chart
from reviewsvc.validation import is_subject_id

PAGE_SIZE = 50
SORTS = {"time": "seq", "actor": "actor_label", "action": "action", "outcome": "outcome", "facility": "facility_name"}
EVENTS_URL = "console-events"


def _window(request: HttpRequest) -> str:
    window = request.GET.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


def _search_url(**filters) -> str:
    query = {key: value for key, value in filters.items() if value not in (None, "")}
    return reverse(EVENTS_URL) + ("?" + urlencode(query) if query else "")


def _bucket_label(bucket: datetime, window: str) -> str:
    return bucket.strftime("%H:00") if WINDOWS[window][0] == "h" else bucket.strftime("%d %b")


def _series_chart(series, *, window: str, title: str, **scope) -> str:
    step = "hour" if WINDOWS[window][0] == "h" else "day"
    columns = []
    for point in series:
        end = (
            point.bucket.replace(minute=59, second=59)
            if step == "hour"
            else point.bucket.replace(hour=23, minute=59, second=59)
        )
        columns.append(
            Column(
                label=_bucket_label(point.bucket, window),
                granted=point.granted,
                denied=point.denied,
                href=_search_url(since=point.bucket.isoformat(), until=end.isoformat(), **scope),
            )
        )
    return column_chart(title=title, columns=columns)


class TimedEvent:
    """An event with its time to the second in UTC and in its facility's local time."""

    def __init__(self, event: AccessEvent, zone_name: str) -> None:
        self.event = event
        self.utc = event.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        # Whom an alert is about: alert events name the reviewer (or, for baselines, the label) in extra.
        self.about = event.extra.get("reviewer") or event.extra.get("label") or event.actor_label
        self.local = ""
        if zone_name:
            local = event.time.astimezone(zoneinfo.ZoneInfo(zone_name))
            self.local = local.strftime("%Y-%m-%d %H:%M:%S %Z")


def _timed(events: list[AccessEvent]) -> list[TimedEvent]:
    zones = facility_timezones(facility_ids={e.facility_id for e in events if e.facility_id is not None})
    return [TimedEvent(event, zones.get(event.facility_id or 0, "")) for event in events]


def _not_found(request: HttpRequest, what: str) -> HttpResponse:
    return render(request, "console/not_found.html", {"what": what}, status=404)


@auditor_page("overview")
def overview_page(request: HttpRequest) -> HttpResponse:
    window = _window(request)
    event_counts_catch_up()
    data = overview(window=window)
    charts = {
        "series": _series_chart(data.series, window=window, title=f"Events per {'hour' if window == '24h' else 'day'}"),
        "facilities": bar_chart(
            title="Plays per facility",
            bars=[
                Bar(
                    row["facility_name"] or "(none)",
                    row["total"],
                    _search_url(facility=row["facility_name"], action=PLAY),
                )
                for row in data.plays_by_facility
            ],
        ),
        "reviewers": bar_chart(
            title="Plays per reviewer",
            bars=[
                Bar(row["actor_label"], row["total"], _search_url(reviewer=row["actor_label"], action=PLAY))
                for row in data.plays_by_reviewer
            ],
        ),
        "denials": bar_chart(
            title="Denials by reason",
            bars=[
                Bar(row["reason"] or "(none)", row["total"], _search_url(outcome=Outcome.DENIED, q=row["reason"]))
                for row in data.denials_by_reason
            ],
        ),
    }
    return render(
        request,
        "console/overview.html",
        {"data": data, "charts": charts, "window": window, "windows": list(WINDOWS), "alerts": _timed(data.alerts)},
    )


def _decode_cursor(raw: str) -> tuple[str, int] | None:
    try:
        value, seq = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(value, str | int) or not isinstance(seq, int) or isinstance(seq, bool):
        return None
    return str(value), seq


def _encode_cursor(value, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, seq]).encode()).decode()


def _page(events: QuerySet[AccessEvent], *, field: str, descending: bool, cursor: tuple[str, int] | None):
    """Keyset pagination on ``(field, seq)``: stable under appends, no OFFSET over a million rows."""
    if cursor is not None:
        value, seq = cursor
        key = int(value) if field == "seq" else value
        if field == "seq":
            events = events.filter(seq__lt=key) if descending else events.filter(seq__gt=key)
        elif descending:
            events = events.filter(Q(**{f"{field}__lt": key}) | Q(**{field: key, "seq__lt": seq}))
        else:
            events = events.filter(Q(**{f"{field}__gt": key}) | Q(**{field: key, "seq__gt": seq}))
    order = [f"-{field}", "-seq"] if descending else [field, "seq"]
    if field == "seq":
        order = order[:1]
    rows = list(events.order_by(*order)[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    following = _encode_cursor(getattr(rows[-1], field), rows[-1].seq) if more and rows else None
    return rows, following


@auditor_page("events")
def events_page(request: HttpRequest) -> HttpResponse:
    params = request.GET.copy()
    sort = params.pop("sort", ["-time"])[-1]
    raw_cursor = params.pop("cursor", [""])[-1]
    params.pop("page_size", None)
    filters = FilterSerializer(data=params)
    descending = sort.startswith("-")
    field = SORTS.get(sort.lstrip("-"))
    cursor = _decode_cursor(raw_cursor) if raw_cursor else None
    problems: dict[str, list[str]] = {}
    if not filters.is_valid():
        problems = {name: [str(e) for e in errors] for name, errors in filters.errors.items()}
    if field is None:
        problems["sort"] = [f"Sort by one of {', '.join(SORTS)} (prefix - for descending)."]
    if raw_cursor and cursor is None:
        problems["cursor"] = ["Not a cursor this page made."]
    context = {
        "params": params,
        "sort": sort,
        "sorts": list(SORTS),
        "problems": problems,
        "query": urlencode([(k, v) for k, v in params.items() if v]),
    }
    if problems:
        return render(request, "console/events.html", context, status=400)
    events = filtered_events(filters.validated_data)
    rows, following = _page(events, field=field, descending=descending, cursor=cursor)
    next_query = None
    if following:
        next_query = urlencode([*((k, v) for k, v in params.items() if v), ("sort", sort), ("cursor", following)])
    context.update({"rows": _timed(rows), "next_query": next_query})
    return render(request, "console/events.html", context)


@auditor_page("clip")
def clip_page(request: HttpRequest, clip_id) -> HttpResponse:
    story = clip_story(clip_id=clip_id)
    if not story.events:
        return _not_found(request, f"Clip {clip_id}")
    return render(
        request,
        "console/clip.html",
        {"clip_id": clip_id, "story": story, "rows": _timed(story.events), "search": _search_url(clip=clip_id)},
    )


@auditor_page("reviewer")
def reviewer_page(request: HttpRequest, actor_id: str) -> HttpResponse:
    """A reviewer by the id events record as the actor (the account's id)."""
    reviewer = reviewer_by_user_id(user_id=int(actor_id)) if actor_id.isdecimal() else None
    if reviewer is None and not reviewer_events(actor_id=actor_id, limit=1):
        return _not_found(request, f"Reviewer {actor_id}")
    username = reviewer.user.get_username() if reviewer else ""
    scope = {"actor_kind": "reviewer", "actor_id": actor_id}
    series = activity_series(window="30d", **scope)
    return render(
        request,
        "console/reviewer.html",
        {
            "reviewer": reviewer,
            "actor_id": actor_id,
            "username": username,
            "chart": _series_chart(series, window="30d", title="Activity per day, last 30 days", reviewer=username),
            "clips": clips_heard(actor_kind="reviewer", actor_id=actor_id),
            "denials": _timed(reviewer_events(actor_id=actor_id, outcome=Outcome.DENIED, limit=50)),
            "sessions": _timed(reviewer_events(actor_id=actor_id, actions=SESSION_ACTIONS, limit=50)),
            "changes": _timed(reviewer_status_changes(username=username)) if username else [],
            "devices": reviewer_devices(user=reviewer.user) if reviewer else None,
            "search": _search_url(reviewer=username),
        },
    )


@auditor_page("facility")
def facility_page(request: HttpRequest, facility_id: int) -> HttpResponse:
    facility = facility_get(facility_id=facility_id)
    if facility is None:
        return _not_found(request, f"Facility {facility_id}")
    scope = {"facility_id": facility_id}
    series = activity_series(window="30d", **scope)
    return render(
        request,
        "console/facility.html",
        {
            "facility": facility,
            "chart": _series_chart(
                series, window="30d", title="Activity per day, last 30 days", facility=facility.name
            ),
            "reviewers": counts_by(
                window="30d", fields=("actor_id", "actor_label"), action=PLAY, actor_kind="reviewer", **scope
            ),
            "clips": clips_heard(facility_id=facility_id),
            "denials": _timed(facility_events(facility_id=facility_id, outcome=Outcome.DENIED, limit=50)),
            "sessions": _timed(facility_events(facility_id=facility_id, actions=SESSION_ACTIONS, limit=50)),
            "search": _search_url(facility=facility.name),
        },
    )


@auditor_page("subject")
def subject_page(request: HttpRequest) -> HttpResponse:
    subject_id = request.GET.get("subject", "").strip()
    context: dict = {"subject_id": subject_id}
    if subject_id and not is_subject_id(subject_id):
        context["problem"] = "A subject id is 1 to 128 of A–Z, a–z, 0–9 and . _ : -"
        return render(request, "console/subject.html", context, status=400)
    if subject_id:
        # Exactly what the subject's own access report shows (pseudonymised reviewers included).
        events = list(reviewer_accesses(subject_id=subject_id)[:1000])
        context["entries"] = access_log_entries(events, subject_id=subject_id)
    return render(request, "console/subject.html", context)


@auditor_page("alerts")
def alerts_page(request: HttpRequest) -> HttpResponse:
    event_counts_catch_up()
    rows = baselines()
    return render(
        request,
        "console/alerts.html",
        {"alerts": _timed(alert_list()), "baselines": rows, "flagged": sum(row.flagged for row in rows)},
    )


@require_http_methods(["GET", "POST"])
@auditor_page("integrity")
def integrity_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        run = verification_start(context=context_from_request(request))
        return HttpResponseRedirect(reverse("console-integrity") + f"?run={run.id}")
    status = integrity_status()
    run = status.last_run
    sinks = _sink_checkpoint_sizes()
    checkpoints = [
        {"checkpoint": checkpoint, "in_folder": checkpoint.size in sinks}
        for checkpoint in Checkpoint.objects.order_by("-size")[:20]
    ]
    return render(
        request,
        "console/integrity.html",
        {
            "status": status,
            "run": run,
            "progress": verification_progress(run=run) if run else 0,
            "running": run is not None and run.status in ("queued", "running"),
            "checkpoints": checkpoints,
            "runs": VerificationRun.objects.order_by("-created_at")[:10],
        },
    )


def _sink_checkpoint_sizes() -> set[int]:
    """The checkpoints every sink holds: one that any sink lacks shows as missing."""
    try:
        sources = checkpoints_by_source()
    except (CheckpointUnreadable, OSError):
        return set()
    sinks = [set(checkpoints) for name, checkpoints in sources.items() if name != "database"]
    return set.intersection(*sinks) if sinks else set()
