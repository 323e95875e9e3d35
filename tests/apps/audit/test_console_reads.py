"""The console's derived data: event counts exactly once, baseline alerts once a day, API filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from apps.audit.baseline import baseline_alerts_raise
from apps.audit.models import AccessEvent, EventCount, RollupState
from apps.audit.rollups import event_counts_catch_up
from apps.audit.services import event_record
from apps.audit.statistics import activity_series, counts_by
from apps.audit.tasks import audit_baseline_alerts_task, audit_event_counts_task
from tests.apps.audit.factories import REVIEWER, record_events

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/audit/events"


def total(**filters) -> int:
    return sum(EventCount.objects.filter(granularity="d", **filters).values_list("count", flat=True))


def test_every_event_is_counted_exactly_once_across_batches_and_reruns():
    record_events(7)
    assert event_counts_catch_up(batch=3) == AccessEvent.objects.count()
    assert event_counts_catch_up(batch=3) == AccessEvent.objects.count()
    assert total(action="clip.audio") == 7
    assert sum(EventCount.objects.filter(granularity="h").values_list("count", flat=True)) == 7
    record_events(2)
    audit_event_counts_task()
    assert total(action="clip.audio") == 9
    assert RollupState.objects.get().last_seq == AccessEvent.objects.count()


def test_hourly_counts_are_kept_two_days_and_daily_counts_for_good():
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        record_events(2)
    record_events(1)
    event_counts_catch_up()
    assert sum(EventCount.objects.filter(granularity="h").values_list("count", flat=True)) == 1
    assert total() == 3


def test_the_series_has_every_bucket_and_splits_granted_from_denied():
    record_events(2)
    with transaction.atomic():
        event_record(action="clip.audio", context=REVIEWER, outcome="denied", reason="not_found")
    event_counts_catch_up()
    series = activity_series(window="24h")
    assert len(series) == 24
    assert (series[-1].granted, series[-1].denied) == (2, 1)
    assert sum(point.granted for point in series[:-1]) == 0
    assert len(activity_series(window="30d")) == 30
    (row,) = counts_by(window="7d", fields=("reason",), outcome="denied")
    assert row == {"reason": "not_found", "total": 1}


def test_a_reviewer_far_above_their_baseline_raises_one_alert_a_day():
    record_events(25)
    # The reviewer only: these events name no facility.
    assert baseline_alerts_raise() == 1
    assert audit_baseline_alerts_task() == 0
    (alert,) = AccessEvent.objects.filter(action="alert.baseline")
    assert {key: alert.extra[key] for key in ("kind", "key", "metric", "today")} == {
        "kind": "reviewer",
        "key": REVIEWER.actor_id,
        "metric": "plays",
        "today": 25,
    }


def test_an_ordinary_day_raises_nothing():
    record_events(3)
    assert baseline_alerts_raise() == 0


# --- the auditors' API's rough edges ----------------------------------------------------------------


def test_unknown_query_parameters_answer_400_naming_them(auditor_client):
    response = auditor_client.get(EVENTS, {"reviewr": "x", "colour": "red"})
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert sorted(body["fields"]) == ["colour", "reviewr"]


def test_page_size_is_honoured_up_to_the_maximum(auditor_client):
    record_events(3)
    assert len(auditor_client.get(EVENTS, {"page_size": 2}).json()["results"]) == 2
    everything = AccessEvent.objects.count()  # before this search, which is an event itself
    assert len(auditor_client.get(EVENTS, {"page_size": 100_000}).json()["results"]) == everything


def test_an_unknown_action_and_a_pattern_matching_nothing_behave_the_same(auditor_client):
    record_events(2)
    unknown = auditor_client.get(EVENTS, {"action": "no.such"})
    pattern = auditor_client.get(EVENTS, {"action": "nothing.*"})
    assert (unknown.status_code, unknown.json()["results"]) == (200, [])
    assert (pattern.status_code, pattern.json()["results"]) == (200, [])
    family = auditor_client.get(EVENTS, {"action": "clip.*"}).json()["results"]
    assert [e["action"] for e in family] == ["clip.audio", "clip.audio"]


def test_a_malformed_action_is_400(auditor_client):
    assert auditor_client.get(EVENTS, {"action": "clip audio"}).status_code == 400
