"""Deletion leaves nothing the service could decrypt (SECURITY 24): keys destroyed, blobs and texts gone."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.audit.models import AccessEvent
from apps.clips.models import Clip, ClipStatus, Subject
from apps.clips.services import clip_associated_data, clip_storage
from apps.common.keys import key_provider
from apps.reviews.models import Assignment, AssignmentStatus, Transcript
from reviewsvc.crypto import streaming
from reviewsvc.crypto.errors import DecryptionError, KeyUnwrapError
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip, subject_events
from tests.conftest import retire_unused_key_versions
from tests.support import lease_next, transcript_submit

pytestmark = pytest.mark.django_db

URL = f"/api/v1/subjects/{SUBJECT}/clips"


@pytest.fixture
def own_key_file(settings, tmp_path):
    """A key file of this test's own, so rotating and retiring here touches no other test."""
    settings.REVIEWSVC_KEY_FILE = str(tmp_path / "keys" / "master-keys.json")
    # These tests read the secrets in the file; a token's cannot be read at all
    # (tests/reviewsvc/crypto/test_pkcs11_key_provider.py).
    settings.REVIEWSVC_KEY_PROVIDER = "local"
    return Path(settings.REVIEWSVC_KEY_FILE)


def test_it_deletes_every_clip_and_transcript_of_the_subject(
    service_client, alice_client, django_capture_on_commit_callbacks, tmp_path
):
    transcribed, leased_clip, queued = add_clip(), add_clip(), add_clip()
    other = add_clip(OTHER)
    first = lease_next(alice_client)
    transcript_submit(alice_client, first["assignment"], text="mein geheimer satz")
    second = lease_next(alice_client)
    assert second["clip"] == str(leased_clip.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = service_client.delete(URL)

    assert response.status_code == 200
    assert response.json() == {"subject_id": SUBJECT, "deleted": 3}
    for clip in (transcribed, leased_clip, queued):
        clip.refresh_from_db()
        assert clip.status == ClipStatus.DELETED
        assert clip.wrapped_key is None
        assert clip.blob_name == ""
    transcript = Transcript.objects.get(clip=transcribed)
    assert transcript.ciphertext is None
    assert transcript.wrapped_key is None
    assert Assignment.objects.get(pk=second["assignment"]).status == AssignmentStatus.REVOKED
    other.refresh_from_db()
    assert other.status == ClipStatus.QUEUED
    assert clip_storage().exists(other.blob_name)
    assert [p.name for p in (tmp_path / "blobs").rglob("*.rvs")] == [Path(other.blob_name).name]


def test_the_leasing_reviewer_is_refused_after_the_deletion(service_client, alice_client):
    add_clip()
    leased = lease_next(alice_client)

    service_client.delete(URL)

    response = alice_client.get(leased["audio_url"])
    assert (response.status_code, response.json()["error"]["code"]) == (410, "clip_gone")
    [denied] = AccessEvent.objects.filter(action="clip.audio", outcome="denied")
    assert denied.reason == response.json()["error"]["code"]


def test_nothing_the_service_still_holds_decrypts_a_deleted_clip(
    service_client, own_key_file, django_capture_on_commit_callbacks
):
    clip = add_clip()
    survivor = add_clip(OTHER)
    # What an attacker (or a backup) kept from before the deletion: the blob and the row.
    with clip_storage().open(clip.blob_name, "rb") as blob:
        saved_blob = blob.read()
    context = clip_associated_data(clip_id=clip.pk, subject_id=SUBJECT)

    with django_capture_on_commit_callbacks(execute=True):
        assert service_client.delete(URL).json()["deleted"] == 1

    # The database: the row holds no key any more, and no other row's key opens this clip.
    clip.refresh_from_db()
    assert clip.wrapped_key is None
    assert not clip_storage().exists(saved_blob_name(clip))
    provider = key_provider()
    held = [bytes(k) for k in Clip.objects.exclude(wrapped_key=None).values_list("wrapped_key", flat=True)]
    held += [bytes(k) for k in Transcript.objects.exclude(wrapped_key=None).values_list("wrapped_key", flat=True)]
    assert held  # the survivor's key is still there, and still useless for this clip
    for wrapped in held:
        with pytest.raises(KeyUnwrapError):
            provider.unwrap(wrapped, context=context)
    survivor_key = provider.unwrap(
        bytes(survivor.wrapped_key), context=clip_associated_data(clip_id=survivor.pk, subject_id=OTHER)
    )
    # The key provider: no secret it holds is the data key either.
    secrets = [survivor_key, *key_file_secrets(own_key_file)]
    for secret in secrets:
        with pytest.raises(DecryptionError):
            streaming.decrypt(saved_blob, key=secret, associated_data=context)


def test_a_backed_up_wrapped_key_dies_with_its_master_key_version(
    service_client, own_key_file, django_capture_on_commit_callbacks
):
    """docs/PRIVACY.md: a backup holding the wrapped key can open the clip until the master-key
    version it was wrapped under is retired: a re-wrap run a grace period after ``rotate_master_key``."""
    clip = add_clip()
    add_clip(OTHER)
    with clip_storage().open(clip.blob_name, "rb") as blob:
        saved_blob = blob.read()
    saved_wrapped_key = bytes(clip.wrapped_key)
    context = clip_associated_data(clip_id=clip.pk, subject_id=SUBJECT)
    with django_capture_on_commit_callbacks(execute=True):
        service_client.delete(URL)
    provider = key_provider()
    # Before rotation the restored row would still open the restored blob: the documented window.
    restored_key = provider.unwrap(saved_wrapped_key, context=context)
    assert streaming.decrypt(saved_blob, key=restored_key, associated_data=context)

    call_command("rotate_master_key", stdout=io.StringIO())
    retire_unused_key_versions()

    with pytest.raises(KeyUnwrapError):
        provider.unwrap(saved_wrapped_key, context=context)
    assert str(int.from_bytes(saved_wrapped_key[:4], "big")) not in json.loads(own_key_file.read_bytes())["master_keys"]


def test_events_keep_the_ids_and_hold_no_content(service_client, alice_client):
    clip = add_clip()
    assignment = lease_next(alice_client)["assignment"]
    transcript_submit(alice_client, assignment, text="geheimnisvoller inhalt")

    service_client.delete(URL)

    [event] = subject_events(SUBJECT, "subject.delete")
    assert event.extra["deleted"] == 1
    assert event.extra["transcripts_shredded"] == 1
    assert len(event.extra["clips_digest"]) == 64
    assert AccessEvent.objects.filter(action="clip.ingest", clip_id=clip.pk).exists()
    every_event = json.dumps(list(AccessEvent.objects.values()), default=str)
    assert "geheimnisvoller" not in every_event
    assert SUBJECT not in every_event  # the log names the subject by pseudonym only


def test_deleting_an_unknown_subject_deletes_nothing_and_makes_no_row(service_client):
    response = service_client.delete("/api/v1/subjects/never-seen/clips")

    assert response.json() == {"subject_id": "never-seen", "deleted": 0}
    assert not Subject.objects.filter(pk="never-seen").exists()
    assert len(subject_events("never-seen", "subject.delete")) == 1


def test_deleting_twice_deletes_once(service_client):
    add_clip()
    assert service_client.delete(URL).json()["deleted"] == 1
    assert service_client.delete(URL).json()["deleted"] == 0


def test_the_clip_reports_deleted_to_the_ingest_client(service_client):
    clip = add_clip()
    service_client.delete(URL)

    assert service_client.get(f"/api/v1/clips/{clip.pk}").json()["status"] == "deleted"


def test_it_refuses_a_key_without_the_subjects_scope(scoped_client):
    clip = add_clip()

    response = scoped_client("clips:ingest").delete(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    clip.refresh_from_db()
    assert clip.status == ClipStatus.QUEUED
    assert clip.wrapped_key is not None
    assert subject_events(SUBJECT, "subject.delete") == []


def test_a_body_field_cannot_redirect_a_deletion(service_client):
    mine, theirs = add_clip(), add_clip(OTHER)

    service_client.delete(URL, {"subject_id": OTHER}, format="json")

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == ClipStatus.DELETED
    assert theirs.status == ClipStatus.QUEUED


def saved_blob_name(clip: Clip) -> str:
    return f"{clip.pk.hex[:2]}/{clip.pk.hex}.rvs"


def key_file_secrets(path: Path) -> list[bytes]:
    doc = json.loads(path.read_bytes())
    values = [*doc["master_keys"].values(), doc["signing_seed"], doc["pseudonym_secret"]]
    return [base64.b64decode(value) for value in values]
