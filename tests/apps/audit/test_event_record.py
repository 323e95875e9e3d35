"""event_record: one chained event per call, inside the caller's transaction, holding no raw ids."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.db import connection, transaction

from apps.audit.models import AccessEvent
from apps.audit.selectors import events_sealed_after, subject_pseudonym
from apps.audit.services import MAX_EXTRA_BYTES, event_record, event_record_denied
from apps.common.context import MAX_LABEL, RequestContext, clean_text
from apps.common.keys import key_provider
from apps.facilities.services import facility_create
from reviewsvc.audit import chain
from tests.apps.audit.factories import REVIEWER, record_events
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db


def stored_hash_matches(event: AccessEvent) -> bool:
    event = AccessEvent.objects.get(seq=event.seq)
    fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    return chain.event_hash(fields) == event.hash


def test_it_records_every_field_of_an_access():
    clip_id = uuid.uuid4()
    with transaction.atomic():
        event = event_record(
            action="clip.audio", context=REVIEWER, clip_id=clip_id, subject_id="subject-1", extra={"bytes": 10}
        )
    stored = AccessEvent.objects.get(seq=event.seq)
    assert stored.seq == 1
    assert stored.prev_hash == chain.GENESIS
    assert (stored.actor_kind, stored.actor_id, stored.actor_label) == ("reviewer", "7", "alice@example.com")
    assert (stored.action, stored.outcome, stored.reason) == ("clip.audio", "granted", "")
    assert stored.clip_id == clip_id
    assert stored.client_address == "10.1.2.3"
    assert stored.request_id == "req-1"
    assert stored.extra == {"bytes": 10}
    assert stored.time.utcoffset().total_seconds() == 0
    assert stored.hash == event.hash
    assert stored_hash_matches(stored)


def test_it_chains_each_event_to_the_one_before():
    first, second, third = record_events(3)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert all(stored_hash_matches(e) for e in (first, second, third))


def test_it_stores_the_subject_only_as_a_keyed_pseudonym():
    with transaction.atomic():
        event = event_record(action="clip.ingest", context=REVIEWER, subject_id="subject-42")
    expected = key_provider().mac("subject", b"subject-42").hex()
    stored = AccessEvent.objects.get(seq=event.seq)
    assert stored.subject_pseudonym == expected == subject_pseudonym("subject-42")
    assert "subject-42" not in str([getattr(stored, f) for f in chain.HASHED_FIELDS])
    # Unkeyed SHA-256 of the id would let anyone test guesses; the pseudonym is not that.
    assert stored.subject_pseudonym != hashlib.sha256(b"subject-42").hexdigest()


def test_it_leaves_the_subject_blank_when_there_is_none():
    (event,) = record_events(1)
    assert AccessEvent.objects.get(seq=event.seq).subject_pseudonym == ""


def test_it_keeps_a_snapshot_of_the_facility_name():
    facility = facility_create(
        name="Berlin Office", country="DE", networks=["10.1.0.0/16"], regions=["EU"], context=REVIEWER
    )
    with transaction.atomic():
        event = event_record(action="clip.audio", context=REVIEWER, facility_id=facility.pk)
    stored = AccessEvent.objects.get(seq=event.seq)
    assert (stored.facility_id, stored.facility_name) == (facility.pk, "Berlin Office")
    assert stored_hash_matches(stored)


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction():
    before = AccessEvent.objects.count()
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        event_record(action="clip.audio", context=REVIEWER)
    assert AccessEvent.objects.count() == before


def test_the_event_is_rolled_back_with_the_action_it_records():
    record_events(1)

    def action_that_fails() -> None:
        with transaction.atomic():
            event_record(action="clip.audio", context=REVIEWER)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        action_that_fails()
    assert list(AccessEvent.objects.values_list("seq", flat=True)) == [1]
    (after,) = record_events(1)
    assert after.seq == 2  # no gap left by the rolled-back event


@pytest.mark.django_db(transaction=True)
def test_a_denied_event_commits_in_its_own_transaction():
    event = event_record_denied(action="clip.audio", context=REVIEWER, reason="lease_expired", clip_id=uuid.uuid4())
    stored = AccessEvent.objects.get(seq=event.seq)
    assert (stored.outcome, stored.reason) == ("denied", "lease_expired")
    assert stored_hash_matches(stored)


@pytest.mark.django_db(transaction=True)
def test_a_denied_event_refuses_to_hide_inside_another_transaction():
    # Nested, it would vanish if the outer transaction rolled back: it raises instead.
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record_denied(action="clip.audio", context=REVIEWER, reason="lease_expired")
    assert AccessEvent.objects.count() == 0


def test_it_refuses_an_unknown_outcome():
    with pytest.raises(ValueError, match="outcome"), transaction.atomic():
        event_record(action="clip.audio", context=REVIEWER, outcome="maybe")
    assert AccessEvent.objects.count() == 0


def test_it_refuses_an_oversized_extra_instead_of_logging_a_list_of_ids():
    ids = [str(uuid.uuid4()) for _ in range(200)]
    with pytest.raises(ValueError, match=str(MAX_EXTRA_BYTES)), transaction.atomic():
        event_record(action="subject.opt_out", context=REVIEWER, extra={"clips": ids})
    assert AccessEvent.objects.count() == 0


@pytest.mark.parametrize(
    "hostile",
    [
        "mallory\nLOGIN_OK admin",
        "mallory\r\nLOGIN_OK admin",
        "\x1b[31mred\x1b[0m mallory",
        "x" * 1_000_000,
        "sep\x1farated",
    ],
)
def test_a_hostile_actor_label_or_user_agent_becomes_one_bounded_escaped_record(hostile):
    context = RequestContext(
        actor_kind="anonymous",
        actor_id="",
        actor_label=hostile,
        client_address="10.0.0.1",
        request_id=hostile,
        user_agent=hostile,
    )
    with transaction.atomic():
        event = event_record(
            action="auth.login_failed",
            context=context,
            outcome="denied",
            reason="bad_password",
            extra={"user_agent": hostile, hostile[:50]: "key"},
        )
    assert AccessEvent.objects.count() == 1
    stored = AccessEvent.objects.get(seq=event.seq)
    texts = [stored.actor_label, stored.request_id, chain.canonical_json(stored.extra)]
    for text in texts:
        assert not set(text) & {"\n", "\r", "\x1b", "\x1f"}
    assert len(stored.actor_label) <= MAX_LABEL
    assert stored.actor_label == clean_text(hostile, MAX_LABEL)
    assert stored.extra["user_agent"] == clean_text(hostile, 256)
    assert len(chain.canonical_json(stored.extra)) < 2000
    assert stored_hash_matches(stored)


def test_sealed_events_are_read_in_sequence_order_after_a_cursor():
    record_events(7)
    assert [e.seq for e in events_sealed_after(seq=0, limit=3)] == [1, 2, 3]
    assert [e.seq for e in events_sealed_after(seq=3, limit=10)] == [4, 5, 6, 7]
    assert events_sealed_after(seq=7) == []


@requires_postgres
@pytest.mark.django_db
def test_the_log_keeps_one_index_on_its_mac_the_unique_one():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_accessevent' AND indexdef LIKE %s",
            ["%(mac%"],
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert len(definitions) == 1
    assert definitions[0].startswith("CREATE UNIQUE INDEX")
