"""The auditors' API: only OTP-verified auditors and superusers; filters, newest first, streamed exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AccessEvent
from apps.audit.selectors import subject_pseudonym
from apps.audit.services import checkpoint_create, event_record
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.facilities.services import facility_create
from reviewsvc.audit.verify import records_from_jsonl, verify_log
from reviewsvc.crypto.keys import verify_signature
from tests.apps.audit.factories import REVIEWER, record_events
from tests.personas import ADDRESS_ADMIN, make_staff, password_only, verified_client
from tests.support import error_code

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/audit/events"


def context_for(kind: str, label: str) -> RequestContext:
    return RequestContext(actor_kind=kind, actor_id="1", actor_label=label, client_address="10.0.0.9", request_id="r")


def record(**fields) -> AccessEvent:
    fields.setdefault("context", REVIEWER)
    fields.setdefault("action", "clip.audio")
    with transaction.atomic():
        return event_record(**fields)


# --- who may call -------------------------------------------------------------------------------


PATHS = {
    EVENTS: "audit.search",
    f"{EVENTS}.csv": "audit.export",
    f"{EVENTS}.jsonl": "audit.export",
    "/api/v1/audit/verify": "audit.verify",
}


def assert_refusal_logged(path: str, reason: str, label: str) -> None:
    (denied,) = AccessEvent.objects.filter(action=PATHS[path])
    assert (denied.outcome, denied.reason, denied.actor_label) == ("denied", reason, label)
    assert denied.extra == {"path": path}
    assert not AccessEvent.objects.filter(action__startswith="audit.", outcome="granted").exists()


@pytest.mark.parametrize("path", PATHS)
def test_an_anonymous_caller_is_refused_and_logged(path):
    response = APIClient().get(path)
    assert (response.status_code, error_code(response)) == (401, "authentication_required")
    assert_refusal_logged(path, "authentication_required", "")


@pytest.mark.parametrize("path", PATHS)
def test_an_auditor_with_a_password_only_session_is_refused_and_logged(auditor, path):
    response = password_only(auditor).get(path)
    assert (response.status_code, error_code(response)) == (403, "otp_required")
    assert_refusal_logged(path, "otp_required", auditor.username)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("who", ["reviewer", "staff"])
def test_a_reviewer_and_staff_outside_auditors_are_refused_and_logged(request, path, who):
    persona = request.getfixturevalue("alice") if who == "reviewer" else make_staff(email="ops@reviewsvc.example")
    # From the admin network, so the role is what refuses them (elsewhere the network rule would).
    response = verified_client(persona, address=ADDRESS_ADMIN).get(path)
    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    assert_refusal_logged(path, "permission_denied", persona.username)


@pytest.mark.parametrize("path", PATHS)
def test_an_api_key_is_refused_and_logged(service_client, path):
    before = set(AccessEvent.objects.values_list("seq", flat=True))
    response = service_client.get(path)
    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    (denied,) = AccessEvent.objects.exclude(seq__in=before)
    assert (denied.action, denied.outcome, denied.reason) == (PATHS[path], "denied", "permission_denied")
    assert (denied.actor_kind, denied.actor_label) == ("api_key", "product-backend")


def test_a_verified_auditor_and_a_verified_superuser_may_search(auditor_client, admin_client):
    record()
    for client in (auditor_client, admin_client):
        assert client.get(EVENTS).status_code == 200


# --- search ---------------------------------------------------------------------------------------


def test_it_lists_newest_first_with_a_cursor(auditor_client):
    made = [event.seq for event in record_events(5)]
    first = auditor_client.get(EVENTS, {"page_size": 2}).json()
    assert [e["seq"] for e in first["results"]] == [made[4], made[3]]
    second = auditor_client.get(first["next"]).json()
    assert [e["seq"] for e in second["results"]] == [made[2], made[1]]
    assert list(first["results"][0]) == [
        *("seq", "time", "actor_kind", "actor_id", "actor_label", "action", "clip_id", "subject_pseudonym"),
        *("facility_id", "facility_name", "client_address", "outcome", "reason", "request_id", "extra"),
        *("prev_hash", "hash"),
    ]


def test_it_filters_by_clip_subject_reviewer_facility_action_and_outcome(auditor_client):
    clip = uuid.uuid4()
    hit = record(clip_id=clip, subject_id="subject-9")
    record(clip_id=uuid.uuid4(), subject_id="subject-8")
    denied = record(action="clip.next", outcome="denied", reason="lease_expired")
    by_bob = record(context=context_for("reviewer", "bob@example.com"))
    admin_named_bob = record(context=context_for("admin", "bob@example.com"))
    facility = facility_create(name="Lisbon", country="PT", networks=["10.2.0.0/16"], regions=["EU"], context=REVIEWER)
    in_lisbon = record(facility_id=facility.pk)

    def seqs(**params) -> list[int]:
        response = auditor_client.get(EVENTS, params)
        assert response.status_code == 200, response.content
        return [e["seq"] for e in response.json()["results"]]

    assert seqs(clip=str(clip)) == [hit.seq]
    assert seqs(subject="subject-9") == [hit.seq]
    assert seqs(reviewer="bob@example.com") == [by_bob.seq]
    assert admin_named_bob.seq not in seqs(reviewer="bob@example.com")
    in_facility = seqs(facility="Lisbon")
    assert in_lisbon.seq in in_facility  # with the facility's own creation event
    assert set(AccessEvent.objects.filter(seq__in=in_facility).values_list("facility_name", flat=True)) == {"Lisbon"}
    assert seqs(action="clip.next") == [denied.seq]
    assert seqs(outcome="denied") == [denied.seq]


def test_it_filters_by_time(auditor_client):
    # The personas' own events are from now: one event two days back, one a day ahead.
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=2), tick=False):
        old = record()
    with time_machine.travel(start + timedelta(days=1), tick=False):
        new = record()
    since = (start + timedelta(hours=12)).isoformat()
    until = (start - timedelta(days=1)).isoformat()
    assert [e["seq"] for e in auditor_client.get(EVENTS, {"since": since}).json()["results"]] == [new.seq]
    assert [e["seq"] for e in auditor_client.get(EVENTS, {"until": until}).json()["results"]] == [old.seq]


@pytest.mark.parametrize(
    "params",
    [
        {"clip": "not-a-uuid"},
        {"subject": "../etc/passwd"},
        {"subject": "x" * 200},
        {"outcome": "maybe"},
        {"since": "yesterday"},
        {"action": "clip audio; drop"},
        {"reviewer": "r" * 1000},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
def test_it_refuses_an_invalid_filter(auditor_client, params):
    response = auditor_client.get(EVENTS, params)
    assert (response.status_code, error_code(response)) == (400, "validation_error")


# --- exports --------------------------------------------------------------------------------------


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_the_csv_export_streams_every_hashed_field_and_is_itself_an_event(auditor, auditor_client):
    record_events(3)
    response = auditor_client.get(f"{EVENTS}.csv", {"subject": "subject-1", "action": "clip.audio"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(streamed(response))))
    assert rows[0][:3] == ["seq", "time", "actor_kind"]
    assert "hash" in rows[0]
    assert "prev_hash" in rows[0]
    export = AccessEvent.objects.get(action="audit.export")
    assert (export.actor_kind, export.actor_label) == ("auditor", auditor.username)
    # The raw subject id of the filter is not written into the log, only its pseudonym.
    assert export.extra == {
        "format": "csv",
        "action": "clip.audio",
        "subject_pseudonym": subject_pseudonym("subject-1"),
    }


def test_the_csv_export_defuses_formulas_and_keeps_a_hostile_label_to_one_row(auditor_client):
    before = AccessEvent.objects.count()  # the personas' enrolment
    record(context=context_for("anonymous", '=HYPERLINK("http://evil")\nLOGIN_OK admin\x1b[0m' + "x" * 1_000_000))
    record(context=context_for("anonymous", "@SUM(A1)"))
    record(context=context_for("anonymous", "+1"))
    record(context=context_for("anonymous", "-2"))
    rows = list(csv.reader(io.StringIO(streamed(auditor_client.get(f"{EVENTS}.csv")))))
    labels = [row[rows[0].index("actor_label")] for row in rows[1 + before :]]
    assert len(rows) == 1 + before + 4 + 1  # header, earlier events, four events, the export's own event
    assert labels[0].startswith("'=HYPERLINK")
    assert "\n" not in labels[0]
    assert "\x1b" not in labels[0]
    assert len(labels[0]) == 151
    assert labels[1:4] == ["'@SUM(A1)", "'+1", "'-2"]


def test_the_jsonl_export_verifies_against_a_signed_checkpoint(auditor_client):
    before = AccessEvent.objects.count()  # the personas' enrolment
    record_events(6, context=context_for("anonymous", "line\nbreak"))
    checkpoint = checkpoint_create().as_signed()
    response = auditor_client.get(f"{EVENTS}.jsonl")
    assert response["Content-Type"] == "application/x-ndjson"
    lines = streamed(response).splitlines()
    assert len(lines) == before + 7  # earlier events, six events and the export itself
    assert all(json.loads(line)["actor_label"] != "line\nbreak" for line in lines)
    result = verify_log(
        records_from_jsonl(lines),
        checkpoints=[checkpoint],
        trusted_key=key_provider().signing_public_key(),
        verify_signature=verify_signature,
        complete_series=False,
    )
    assert (result.ok, result.entries) == (True, before + 7)


def test_verify_reports_an_intact_log(auditor_client):
    record_events(4)
    entries = AccessEvent.objects.count()
    assert auditor_client.get("/api/v1/audit/verify").json() == {"ok": True, "entries": entries, "first_bad": None}


def test_every_granted_auditor_search_is_one_event_with_its_filters_and_no_results(auditor_client, auditor):
    first = auditor_client.get(EVENTS, {"action": "clip.audio", "subject": "subject-1"})
    assert first.status_code == 200
    searches = list(AccessEvent.objects.filter(action="audit.search").order_by("seq"))
    assert len(searches) == 1
    [search] = searches
    assert (search.outcome, search.actor_label) == ("granted", auditor.username)
    assert search.extra == {
        "action": "clip.audio",
        "subject_pseudonym": subject_pseudonym("subject-1"),
        "page": "first",
    }
    assert search.clip_id is None
    assert search.subject_pseudonym == ""


def test_a_granted_verification_is_one_event_without_its_result(auditor_client, auditor):
    assert auditor_client.get("/api/v1/audit/verify").status_code == 200
    [verify] = AccessEvent.objects.filter(action="audit.verify")
    assert (verify.outcome, verify.actor_label, verify.extra) == ("granted", auditor.username, {})
