"""Who listened to me: granted reviewer accesses, a per-subject reviewer pseudonym, nothing more."""

from __future__ import annotations

import json

import pytest

from apps.audit.sealing import seal_pending
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip, subject_events
from tests.conftest import requires_postgres
from tests.support import lease_next, transcript_submit

pytestmark = pytest.mark.django_db

URL = f"/api/v1/subjects/{SUBJECT}/access-log"
FIELDS = {"time", "action", "clip", "reviewer", "facility", "country"}


def listen(client) -> dict:
    leased = lease_next(client)
    assert client.get(leased["audio_url"]).status_code == 200
    return leased


def test_it_lists_every_granted_reviewer_access_to_the_subjects_clips(service_client, alice_client):
    clip = add_clip()
    leased = listen(alice_client)
    transcript_submit(alice_client, leased["assignment"])

    response = service_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    entries = body["results"]
    assert [e["action"] for e in entries] == ["transcript.submit", "clip.audio", "review.lease"]
    assert all(set(e) == FIELDS for e in entries)
    assert {e["clip"] for e in entries} == {str(clip.pk)}
    assert {(e["facility"], e["country"]) for e in entries} == {("Facility A", "DE")}
    assert len({e["reviewer"] for e in entries}) == 1
    [read] = subject_events(SUBJECT, "subject.access_log")
    assert read.actor_kind == "api_key"
    assert read.extra == {"entries": 3}


def test_the_reviewer_pseudonym_differs_across_subjects_and_reviewers(service_client, alice_client, bob_client):
    add_clip()
    transcript_submit(alice_client, listen(alice_client)["assignment"])
    add_clip(OTHER)
    add_clip(SUBJECT, region="US", language="en-US")
    listen(bob_client)
    listen(alice_client)

    mine = service_client.get(URL).json()["results"]
    theirs = service_client.get(f"/api/v1/subjects/{OTHER}/access-log").json()["results"]

    alice_here = {e["reviewer"] for e in mine if e["facility"] == "Facility A"}
    bob_here = {e["reviewer"] for e in mine if e["facility"] == "Facility B"}
    alice_there = {e["reviewer"] for e in theirs}
    assert len(alice_here) == len(bob_here) == len(alice_there) == 1
    assert alice_here != bob_here
    assert alice_here != alice_there
    assert {e["country"] for e in mine} == {"DE", "US"}


def test_it_reveals_nothing_else_about_the_reviewer(service_client, alice, alice_client):
    add_clip()
    listen(alice_client)

    entries = service_client.get(URL).json()["results"]

    text = json.dumps(entries)
    for revealing in (alice.username, "alice", alice.address):
        assert revealing not in text
    values = {value for entry in entries for value in entry.values()}
    assert str(alice.user.pk) not in values
    assert alice.user.pk not in values


def test_refused_attempts_and_service_calls_are_not_listed(service_client, alice_client):
    add_clip()
    leased = lease_next(alice_client)
    service_client.put(f"/api/v1/subjects/{SUBJECT}/opt-out")
    refused = alice_client.get(leased["audio_url"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "subject_opted_out")

    actions = [e["action"] for e in service_client.get(URL).json()["results"]]

    assert actions == ["review.lease"]


def test_another_subjects_accesses_are_not_listed(service_client, alice_client):
    add_clip(OTHER)
    listen(alice_client)

    assert service_client.get(URL).json() == {"results": [], "next": None}


def test_it_pages_with_a_cursor(service_client, alice_client):
    add_clip()
    leased = listen(alice_client)
    alice_client.get(leased["audio_url"], HTTP_RANGE="bytes=0-9")
    transcript_submit(alice_client, leased["assignment"])

    first = service_client.get(URL, {"limit": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = service_client.get(first["next"]).json()

    assert second["next"] is None
    assert len(first["results"] + second["results"]) == 4


def test_it_refuses_a_key_without_the_subjects_scope(scoped_client, alice_client):
    add_clip()
    listen(alice_client)

    response = scoped_client("clips:ingest").get(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"


@requires_postgres
def test_with_the_sealer_a_listen_is_listed_once_sealed(service_client, alice_client, settings):
    settings.REVIEWSVC_AUDIT_SEALER = True
    add_clip()
    listen(alice_client)
    assert service_client.get(URL).json()["results"] == []  # pending: not in the log yet
    seal_pending()
    assert [e["action"] for e in service_client.get(URL).json()["results"]] == ["clip.audio", "review.lease"]
