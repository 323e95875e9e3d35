"""Transcripts: strict input, encrypted at rest under their own key, read by the ingest client."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.audit.models import AccessEvent
from apps.clips.models import Clip
from apps.reviews.models import Assignment, Transcript
from apps.reviews.services import TRANSCRIPT_KIND
from reviewsvc.crypto.errors import DecryptionError
from tests.apps.reviews.support import assignment_url, transcript_url
from tests.support import denied, error_code, events, lease_next

pytestmark = pytest.mark.django_db


@pytest.fixture
def lease(alice_client, make_clip):
    make_clip(subject_id="subject-7")
    return lease_next(alice_client)


def submit(client, lease, payload, **kwargs):
    return client.post(assignment_url(lease["assignment"], "transcript"), payload, format="json", **kwargs)


def test_a_transcript_is_stored_encrypted_and_the_clip_becomes_transcribed(alice_client, lease, service_client):
    text = "Wie wird das Wetter morgen in Köln?"
    response = submit(alice_client, lease, {"text": text, "flags": ["sensitive"]})
    assert response.status_code == 201
    assert response.json()["flags"] == ["sensitive"]
    assert Clip.objects.get(pk=lease["clip"]).status == "transcribed"
    assert Assignment.objects.get(pk=lease["assignment"]).status == "submitted"
    stored = Transcript.objects.get(clip_id=lease["clip"])
    assert text.encode() not in bytes(stored.ciphertext)
    assert "Köln".encode() not in bytes(stored.ciphertext)
    event = events("transcript.submit")[-1]
    assert event.extra["chars"] == len(text)
    assert text not in str(event.extra)

    read = service_client.get(transcript_url(lease["clip"]))
    assert read.status_code == 200
    assert read.json()["text"] == text
    assert read.json()["flags"] == ["sensitive"]
    assert set(read.json()) == {"text", "flags", "submitted_at"}
    assert str(events("transcript.read")[-1].clip_id) == lease["clip"]


def test_the_text_is_bound_to_its_row(alice_client, lease, make_clip, bob_client):
    from apps.common.keys import key_provider
    from reviewsvc.crypto import envelope

    submit(alice_client, lease, {"text": "erste"})
    stored = Transcript.objects.get(clip_id=lease["clip"])
    with pytest.raises(DecryptionError):
        envelope.open(
            bytes(stored.ciphertext),
            provider=key_provider(),
            wrapped_key=bytes(stored.wrapped_key),
            kind=TRANSCRIPT_KIND,
            object_id=str(stored.id),
            subject_id="someone-else",
        )


def test_the_text_is_nfc_normalised_and_newlines_kept(alice_client, lease, service_client):
    decomposed = "Ko\u0308ln\r\nzweite Zeile\tmit Tab"
    assert submit(alice_client, lease, {"text": decomposed}).status_code == 201
    assert service_client.get(transcript_url(lease["clip"])).json()["text"] == "K\u00f6ln\nzweite Zeile\tmit Tab"


def test_an_accidental_activation_is_shredded_at_once_and_keeps_only_the_flag(alice_client, lease, service_client):
    response = submit(alice_client, lease, {"text": "private words", "flags": ["accidental_activation"]})
    assert response.status_code == 201
    clip = Clip.objects.get(pk=lease["clip"])
    assert clip.is_shredded
    assert clip.status == "transcribed"
    stored = Transcript.objects.get(clip_id=lease["clip"])
    assert stored.ciphertext is None
    assert stored.wrapped_key is None
    assert service_client.get(transcript_url(lease["clip"])).json()["text"] == ""
    response = alice_client.get(lease["audio_url"])
    assert (response.status_code, error_code(response)) == (410, "clip_gone")


def test_a_transcript_can_be_submitted_once(alice_client, lease):
    assert submit(alice_client, lease, {"text": "eins"}).status_code == 201
    response = submit(alice_client, lease, {"text": "zwei"})
    assert (response.status_code, error_code(response)) == (403, "lease_expired")
    assert denied("transcript.submit", "lease_expired")
    assert Transcript.objects.count() == 1


def test_another_reviewer_cannot_submit_to_my_lease(lease, bob_client):
    response = submit(bob_client, lease, {"text": "hijack"})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert denied("transcript.submit", "not_found")
    assert not Transcript.objects.exists()


def test_a_password_only_session_cannot_submit(lease, password_only_client):
    response = submit(password_only_client, lease, {"text": "x"})
    assert (response.status_code, error_code(response)) == (403, "otp_required")
    assert not Transcript.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ["a", "list"]},
        {"text": {"$ne": None}},
        {"text": 2**64},
        {"text": 12},
        {"text": True},
        {"text": None},
        {},
        {"text": "x" * 1_000_000},
        {"text": "x" * 10_001},
        {"text": "bell \x07"},
        {"text": "escape \x1b[31m red"},
        {"text": "nul \x00"},
        {"text": "carriage \r return"},
        {"text": "ok", "flags": "accidental_activation"},
        {"text": "ok", "flags": [["accidental_activation"]]},
        {"text": "ok", "flags": [2**64]},
        {"text": "ok", "flags": ["made_up"]},
        {"text": "ok", "flags": ["sensitive", "sensitive"]},
        {"text": "ok", "flags": {"$ne": None}},
        {"text": "ok", "reviewer": 1},
        {"text": "ok", "status": "transcribed"},
        {"text": "ok", "clip": "00000000-0000-0000-0000-000000000000"},
    ],
    ids=lambda p: str(p)[:40],
)
def test_it_refuses_hostile_bodies(alice_client, lease, payload):
    response = submit(alice_client, lease, payload)
    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert not Transcript.objects.exists()
    assert Clip.objects.get(pk=lease["clip"]).status == "assigned"


@pytest.mark.parametrize(
    "raw",
    [b'{"text": NaN}', b'{"text": Infinity}', b'{"text": "\xff\xfe"}', b"[1, 2]", b'"text"', b"{", b""],
)
def test_it_refuses_malformed_json(alice_client, lease, raw):
    response = alice_client.post(
        assignment_url(lease["assignment"], "transcript"), raw, content_type="application/json"
    )
    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert not Transcript.objects.exists()


def test_the_ingest_client_needs_the_transcripts_scope(alice_client, lease, scoped_client):
    submit(alice_client, lease, {"text": "eins"})
    response = scoped_client("clips:ingest").get(transcript_url(lease["clip"]))
    assert (response.status_code, error_code(response)) == (403, "scope_missing")
    assert not events("transcript.read")


def test_a_reviewer_session_cannot_read_transcripts(alice_client, lease):
    submit(alice_client, lease, {"text": "eins"})
    response = alice_client.get(transcript_url(lease["clip"]))
    assert response.status_code == 401
    assert not events("transcript.read")


@pytest.mark.parametrize("clip_id", ["missing", "00000000-0000-0000-0000-000000000000", None])
def test_it_answers_404_when_there_is_no_transcript(service_client, lease, clip_id):
    response = service_client.get(transcript_url(clip_id or lease["clip"]))
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_transcript_keys_are_rewrapped_by_master_key_rotation(alice_client, lease, service_client):
    submit(alice_client, lease, {"text": "vor der Rotation"})
    before = Transcript.objects.get(clip_id=lease["clip"]).key_version
    call_command("rotate_master_key", verbosity=0)
    after = Transcript.objects.get(clip_id=lease["clip"])
    assert after.key_version == before + 1
    assert service_client.get(transcript_url(lease["clip"])).json()["text"] == "vor der Rotation"


def test_no_event_holds_transcript_text(alice_client, lease, service_client):
    secret = "Mein Passwort ist Geheimnis123"
    submit(alice_client, lease, {"text": secret})
    service_client.get(transcript_url(lease["clip"]))
    for event in AccessEvent.objects.all():
        assert secret not in str(event.extra)
        assert "Geheimnis" not in event.reason + event.actor_label
