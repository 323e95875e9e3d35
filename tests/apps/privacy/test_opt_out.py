"""Opt-out holds from the moment the call returns (SECURITY 14, hostile inputs 8 and 9)."""

from __future__ import annotations

import pytest

from apps.clips.models import Clip, ClipStatus, Subject
from apps.clips.services import clip_storage
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.keys.services import master_key_rotate
from apps.keys.tasks import wrapped_keys_rewrap_task
from apps.reviews.models import Assignment, AssignmentStatus
from apps.reviews.tasks import expire_leases
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip, subject_events
from tests.support import events, lease_next, transcript_submit

pytestmark = pytest.mark.django_db

URL = f"/api/v1/subjects/{SUBJECT}/opt-out"


def test_it_withdraws_queued_and_leased_clips_and_answers_how_many(service_client, alice_client):
    first, second, third = add_clip(), add_clip(), add_clip()
    leased = lease_next(alice_client)
    transcribed_elsewhere = add_clip(OTHER)

    response = service_client.put(URL)

    assert response.status_code == 200
    assert response.json() == {"subject_id": SUBJECT, "opted_out": True, "withdrawn": 3}
    assert {c.status for c in Clip.objects.filter(pk__in=[first.pk, second.pk, third.pk])} == {ClipStatus.WITHDRAWN}
    assert Assignment.objects.get(pk=leased["assignment"]).status == AssignmentStatus.REVOKED
    transcribed_elsewhere.refresh_from_db()
    assert transcribed_elsewhere.status == ClipStatus.QUEUED


def test_it_crypto_shreds_the_withdrawn_audio(service_client, django_capture_on_commit_callbacks):
    clip = add_clip()
    storage = clip_storage()
    assert storage.exists(clip.blob_name)

    with django_capture_on_commit_callbacks(execute=True):
        service_client.put(URL)

    clip.refresh_from_db()
    assert clip.wrapped_key is None
    assert clip.key_version is None
    assert clip.blob_name == ""
    assert not storage.exists(f"{clip.pk.hex[:2]}/{clip.pk.hex}.rvs")


def test_it_keeps_the_withdrawn_audio_when_configured(service_client, settings):
    settings.REVIEWSVC_OPTOUT_KEEP_AUDIO = True
    clip = add_clip()

    assert service_client.put(URL).json()["withdrawn"] == 1

    clip.refresh_from_db()
    assert clip.status == ClipStatus.WITHDRAWN
    assert clip.wrapped_key is not None
    assert clip_storage().exists(clip.blob_name)


def test_it_writes_one_aggregate_event_not_one_per_clip(service_client):
    clips = [add_clip() for _ in range(5)]
    before = len(events("subject.opt_out"))

    service_client.put(URL)

    [event] = subject_events(SUBJECT, "subject.opt_out")
    assert len(events("subject.opt_out")) == before + 1
    assert event.actor_kind == "api_key"
    assert event.outcome == "granted"
    assert event.extra["withdrawn"] == 5
    assert event.extra["audio_shredded"] is True
    assert len(event.extra["clips_digest"]) == 64
    assert not any(str(c.pk) in str(event.extra) for c in clips)


def test_the_next_range_request_of_a_half_streamed_clip_is_refused(service_client, alice_client):
    add_clip(seconds=2.0)
    leased = lease_next(alice_client)
    audio_url = leased["audio_url"]
    first = alice_client.get(audio_url, HTTP_RANGE="bytes=0-999")
    assert first.status_code == 206
    streaming = alice_client.get(audio_url)
    chunks = iter(streaming.streaming_content)
    assert next(chunks)  # the player has started on the whole clip

    assert service_client.put(URL).status_code == 200

    refused = alice_client.get(audio_url, HTTP_RANGE="bytes=1000-1999")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "subject_opted_out")
    [denied] = events("clip.audio", outcome="denied")
    assert denied.clip_id == Clip.objects.get().pk
    assert denied.reason == refused.json()["error"]["code"]


def test_next_never_hands_out_a_clip_of_an_opted_out_subject(service_client, alice_client):
    add_clip()
    service_client.put(URL)

    assert alice_client.post("/api/v1/review/next").status_code == 204
    assert Subject.objects.get(pk=SUBJECT).opted_out


def test_ingest_after_the_opt_out_answers_409_and_stores_nothing(service_client, ingest, tmp_path):
    service_client.put(URL)

    response = ingest(subject_id=SUBJECT)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "subject_opted_out"
    assert not Clip.objects.exists()
    blobs = tmp_path / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


def test_opting_back_in_applies_to_future_clips_only(service_client, ingest):
    withdrawn = add_clip()
    service_client.put(URL)

    response = service_client.delete(URL)

    assert response.status_code == 200
    assert response.json() == {"subject_id": SUBJECT, "opted_out": False}
    withdrawn.refresh_from_db()
    assert withdrawn.status == ClipStatus.WITHDRAWN
    assert ingest(subject_id=SUBJECT).status_code == 201
    assert Clip.objects.filter(subject_id=SUBJECT, status=ClipStatus.QUEUED).count() == 1
    assert len(subject_events(SUBJECT, "subject.opt_in")) == 1


def test_a_body_field_cannot_redirect_an_opt_out_to_another_subject(service_client):
    add_clip(OTHER)

    response = service_client.put(URL, {"subject_id": OTHER}, format="json")

    assert response.json()["subject_id"] == SUBJECT
    assert Subject.objects.get(pk=SUBJECT).opted_out
    assert not Subject.objects.get(pk=OTHER).opted_out
    assert Clip.objects.get(subject_id=OTHER).status == ClipStatus.QUEUED
    assert subject_events(OTHER, "subject.opt_out") == []


@pytest.mark.parametrize("method", ["put", "delete"])
def test_it_refuses_a_key_without_the_subjects_scope(scoped_client, method):
    clip = add_clip()
    client = scoped_client("clips:ingest", "transcripts:read")

    response = getattr(client, method)(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    assert not Subject.objects.get(pk=SUBJECT).opted_out
    clip.refresh_from_db()
    assert clip.status == ClipStatus.QUEUED
    assert subject_events(SUBJECT, "subject.opt_out") == []


@pytest.mark.parametrize("bad", ["a" * 129, "semi;colon", "sp%20ace", "%C3%A4", "new%0Aline"])
def test_it_refuses_malformed_subject_ids(service_client, bad):
    response = service_client.put(f"/api/v1/subjects/{bad}/opt-out")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Subject.objects.exists()


def test_it_refuses_an_anonymous_caller(client):
    add_clip()

    response = client.put(URL)

    assert response.status_code == 401
    assert not Subject.objects.get(pk=SUBJECT).opted_out


def test_a_lease_expiry_that_runs_after_the_opt_out_does_not_requeue_the_clip(service_client, alice_client):
    clip = add_clip()
    lease_next(alice_client)
    # The lease would be due the moment the expiry task runs, as if it had been queued earlier.
    Assignment.objects.update(expires_at="2000-01-01T00:00:00Z")

    service_client.put(URL)
    expire_leases.delay()  # the beat task, running after the opt-out

    clip.refresh_from_db()
    assert clip.status == ClipStatus.WITHDRAWN
    assert Assignment.objects.get().status == AssignmentStatus.REVOKED


def test_a_key_rotation_queued_before_the_opt_out_restores_no_key(service_client, settings, tmp_path):
    settings.REVIEWSVC_KEY_FILE = str(tmp_path / "keys" / "master-keys.json")
    withdrawn, other = add_clip(), add_clip(OTHER)
    master_key_rotate(context=RequestContext.system("tests"))  # the re-wrap task is now queued

    service_client.put(URL)
    wrapped_keys_rewrap_task.delay()  # ... and runs after the opt-out

    withdrawn.refresh_from_db()
    other.refresh_from_db()
    assert withdrawn.wrapped_key is None
    assert withdrawn.status == ClipStatus.WITHDRAWN
    assert other.key_version == key_provider().current_version()


def test_transcripts_made_before_the_opt_out_stay_with_the_client(service_client, alice_client):
    clip = add_clip()
    transcript_submit(alice_client, lease_next(alice_client)["assignment"], text="schon transkribiert")

    service_client.put(URL)

    response = service_client.get(f"/api/v1/clips/{clip.pk}/transcript")
    assert response.status_code == 200
    assert response.json()["text"] == "schon transkribiert"
    assert Clip.objects.get(pk=clip.pk).status == ClipStatus.TRANSCRIBED
