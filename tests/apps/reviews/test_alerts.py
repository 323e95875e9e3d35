"""Alert rules: repeated plays, access outside working hours, bursts of denials."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.db import transaction

from apps.accounts.models import Reviewer
from apps.audit.models import PendingEvent
from apps.audit.sealing import seal_pending
from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.reviews import alerts
from tests.apps.reviews.support import audio_url
from tests.conftest import requires_postgres
from tests.personas import verified_client
from tests.support import NEXT, body, error_code, events, lease_next

pytestmark = pytest.mark.django_db

# Facility A works Mon-Fri 08:00-18:00 Europe/Berlin.
SATURDAY_NIGHT = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
TUESDAY_MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def posted(monkeypatch):
    """Requests the webhook would have received."""
    sent = []

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size):
            return b""

    def urlopen(request, timeout):
        sent.append((request.full_url, json.loads(request.data), timeout))
        return Answer()

    monkeypatch.setattr(alerts.urllib.request, "urlopen", urlopen)
    return sent


@pytest.fixture
def admins(settings):
    settings.ADMINS = [("Security", "security@reviewsvc.example")]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """The alert task is enqueued on commit: inside ``with committed():`` those callbacks run."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_playing_one_clip_too_often_raises_one_alert(alice_client, make_clip, settings, posted, admins, committed):
    settings.REVIEWSVC_ALERT_REPEATED_PLAYS = 2
    settings.REVIEWSVC_ALERT_WEBHOOK_URL = "https://alerts.example/hook"
    make_clip()
    lease = lease_next(alice_client)
    for _ in range(2):
        body(alice_client.get(lease["audio_url"]))
    # Range requests inside one play are not new plays.
    body(alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=100-"))
    assert not events("alert.repeated_plays")
    with committed():
        for _ in range(2):
            body(alice_client.get(lease["audio_url"]))
    alert = events("alert.repeated_plays")
    assert len(alert) == 1
    assert (str(alert[0].clip_id), alert[0].extra["plays"], alert[0].extra["reviewer"]) == (
        lease["clip"],
        3,
        "alice@facility-a.example",
    )
    assert len(mail.outbox) == 1
    assert "repeated_plays" in mail.outbox[0].subject
    assert f"#{alert[0].seq}" in mail.outbox[0].body
    assert posted == [
        (
            "https://alerts.example/hook",
            {
                "rule": "repeated_plays",
                "event_seq": alert[0].seq,
                "reviewer_id": alert[0].extra["reviewer_id"],
                "clip_id": lease["clip"],
                "facility_id": alert[0].facility_id,
            },
            alerts.WEBHOOK_TIMEOUT_SECONDS,
        )
    ]


def test_access_outside_the_facilitys_hours_raises_an_alert(alice, make_clip, settings, admins, committed):
    settings.REVIEWSVC_ALERT_OUTSIDE_HOURS = True
    make_clip()
    with time_machine.travel(SATURDAY_NIGHT), committed():
        alice_client = verified_client(alice)
        lease = lease_next(alice_client)
        body(alice_client.get(lease["audio_url"]))
    alert = events("alert.outside_hours")
    assert len(alert) == 1  # once per reviewer and hour, not per request
    assert alert[0].extra["hours"] == "Mon-Fri 08:00-18:00"
    assert len(mail.outbox) == 1


def test_access_within_hours_raises_nothing(alice, make_clip, settings, admins, committed):
    settings.REVIEWSVC_ALERT_OUTSIDE_HOURS = True
    make_clip()
    with time_machine.travel(TUESDAY_MORNING), committed():
        alice_client = verified_client(alice)
        lease = lease_next(alice_client)
        body(alice_client.get(lease["audio_url"]))
    assert not events("alert.outside_hours")
    assert not mail.outbox


def test_a_burst_of_denials_raises_an_alert(alice_client, settings, admins, committed):
    settings.REVIEWSVC_ALERT_DENIALS = 3
    with committed():
        for _ in range(5):
            assert alice_client.get(audio_url(uuid.uuid4())).status_code == 404
    assert len(events("clip.audio", outcome="denied")) == 5
    alert = events("alert.denial_burst")
    assert len(alert) == 1
    assert alert[0].extra["denials"] == 3
    assert len(mail.outbox) == 1


def test_alerts_can_suspend_the_reviewer_at_once(alice_client, alice, settings):
    settings.REVIEWSVC_ALERT_DENIALS = 2
    settings.REVIEWSVC_ALERT_AUTO_SUSPEND = True
    for _ in range(2):
        alice_client.get(audio_url(uuid.uuid4()))
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "suspended"
    assert events("reviewer.suspend")
    response = alice_client.post(NEXT)
    assert (response.status_code, error_code(response)) == (401, "authentication_required")


def test_alerts_do_not_suspend_by_default(alice_client, alice, settings):
    settings.REVIEWSVC_ALERT_DENIALS = 2
    for _ in range(3):
        alice_client.get(audio_url(uuid.uuid4()))
    assert events("alert.denial_burst")
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "active"


def test_a_webhook_that_is_not_http_is_never_opened(settings, posted, db):
    settings.REVIEWSVC_ALERT_WEBHOOK_URL = "file:///etc/passwd"
    alerts.alert_deliver(rule="denial_burst", event_seq=1, reviewer_id=1, clip_id=None, facility_id=None)
    assert posted == []


def test_a_failing_webhook_does_not_break_the_alert(settings, monkeypatch, db, admins):
    settings.REVIEWSVC_ALERT_WEBHOOK_URL = "https://alerts.example/hook"

    def down(request, timeout):
        raise OSError("connection refused")

    monkeypatch.setattr(alerts.urllib.request, "urlopen", down)
    alerts.alert_deliver(rule="denial_burst", event_seq=1, reviewer_id=1, clip_id=None, facility_id=None)
    assert len(mail.outbox) == 1


def test_repeated_plays_count_the_bytes_served_not_the_requests(alice_client, make_clip, settings, committed):
    settings.REVIEWSVC_ALERT_REPEATED_PLAYS = 2
    clip = make_clip()
    lease = alice_client.post(NEXT).json()
    size = clip.size_bytes
    tenth = size // 10 + 1

    def whole_clip_in_ranges(first: int) -> None:
        # Never from byte 0 first: a fetch that avoids the start counts all the same.
        starts = list(range(first, size, tenth)) + list(range(0, first, tenth))
        for start in starts:
            stop = min(start + tenth, size if start >= first else first) - 1
            assert alice_client.get(lease["audio_url"], HTTP_RANGE=f"bytes={start}-{stop}").status_code == 206

    with committed():
        whole_clip_in_ranges(first=tenth)
        whole_clip_in_ranges(first=2 * tenth)
        assert not events("alert.repeated_plays")
        whole_clip_in_ranges(first=3 * tenth)
    [alert] = events("alert.repeated_plays")
    assert (alert.extra["plays"], alert.extra["bytes_served"]) == (3, 3 * size)


def test_many_small_requests_from_the_start_are_not_many_plays(alice_client, make_clip, settings):
    settings.REVIEWSVC_ALERT_REPEATED_PLAYS = 2
    make_clip()
    lease = alice_client.post(NEXT).json()
    for _ in range(30):
        assert alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=0-1023").status_code == 206
    assert not events("alert.repeated_plays")


def test_listening_again_and_again_while_skipping_the_first_byte_still_counts(alice_client, make_clip, settings):
    settings.REVIEWSVC_ALERT_REPEATED_PLAYS = 2
    make_clip()
    lease = alice_client.post(NEXT).json()
    for _ in range(4):
        body(alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=1-"))
    [alert] = events("alert.repeated_plays")
    assert alert.extra["plays"] == 3


@requires_postgres
def test_an_alert_sent_before_its_event_is_sealed_names_it_by_its_mac_and_once(settings, admins, committed):
    settings.REVIEWSVC_AUDIT_SEALER = True
    with committed():
        alerts.alert_raise(
            rule="denial_burst", reviewer_id=1, username="alice", facility_id=None, context=RequestContext.system("t")
        )
    pending = PendingEvent.objects.get(action="alert.denial_burst")
    assert f"Access event: not sealed yet, MAC {pending.mac[:16]}" in mail.outbox[0].body
    seal_pending()
    sealed = events("alert.denial_burst")[0]
    # The outbox publishing the message again (now sealed) sends nothing a second time.
    alerts.alert_deliver(
        rule="denial_burst", event_seq=None, reviewer_id=1, clip_id=None, facility_id=None, event_mac=sealed.mac
    )
    assert len(mail.outbox) == 1


def test_an_alert_named_by_its_mac_shows_the_sealed_events_number(db, admins):
    with transaction.atomic():
        event = event_record(action="alert.denial_burst", context=RequestContext.system("t"))
    alerts.alert_deliver(
        rule="denial_burst", event_seq=None, reviewer_id=1, clip_id=None, facility_id=None, event_mac=event.mac
    )
    assert f"Access event: #{event.seq}" in mail.outbox[0].body
