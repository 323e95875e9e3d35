"""POST /api/v1/clips and GET /api/v1/clips/{id}: encrypted at rest, validated, scoped."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from apps.audit.models import AccessEvent
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip, Subject
from tests.support import error_code, make_wav

pytestmark = pytest.mark.django_db


def blob_dir() -> Path:
    return Path(settings.STORAGES["clips"]["OPTIONS"]["location"])


def test_it_ingests_a_wav_encrypted_and_queued(ingest, service_client):
    audio = make_wav(seconds=1.5)
    response = ingest(audio=audio, subject_id="subject-42", language="de-de")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["duration_ms"] == 1500
    clip = Clip.objects.get(pk=body["id"])
    assert clip.language == "de-DE"
    assert b"".join(clip_audio_chunks(clip=clip)) == audio

    detail = service_client.get(f"/api/v1/clips/{body['id']}")
    assert detail.status_code == 200
    assert detail.json()["status"] == "queued"
    assert "audio" not in detail.json()


def test_no_byte_sequence_of_the_audio_is_stored_anywhere(ingest):
    # A recognisable 64-byte run from the middle of the PCM data.
    audio = make_wav(seconds=1.0, frequency=523.25)
    marker = audio[2000:2064]
    assert ingest(audio=audio).status_code == 201
    stored = b"".join(path.read_bytes() for path in blob_dir().rglob("*") if path.is_file())
    assert stored
    assert marker not in stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT wrapped_key FROM clips_clip")
        rows = b"".join(bytes(row[0]) for row in cursor.fetchall())
    assert marker not in rows


def test_the_ingest_writes_its_access_event_without_the_raw_subject(ingest):
    response = ingest(subject_id="subject-secret-7")
    event = AccessEvent.objects.get(action="clip.ingest")
    assert str(event.clip_id) == response.json()["id"]
    assert event.outcome == "granted"
    assert event.actor_kind == "api_key"
    assert event.subject_pseudonym
    assert "subject-secret-7" not in event.subject_pseudonym


def test_stored_blob_names_are_made_by_the_server(ingest):
    upload = io.BytesIO(make_wav())
    upload.name = "../../x"
    response = ingest(audio=upload.getvalue())
    clip = Clip.objects.get(pk=response.json()["id"])
    assert ".." not in clip.blob_name
    assert clip.blob_name.endswith(f"{clip.id.hex}.rvs")


def test_an_accidental_activation_is_refused_and_nothing_is_stored(ingest):
    response = ingest(activation="accidental")
    assert response.status_code == 422
    assert error_code(response) == "accidental_activation"
    assert not Clip.objects.exists()
    assert not any(path.is_file() for path in blob_dir().rglob("*"))


def test_accidental_activations_are_accepted_when_configured(ingest, settings):
    settings.REVIEWSVC_REVIEW_ACCIDENTAL = True
    assert ingest(activation="accidental").status_code == 201


def test_an_opted_out_subject_gets_409_and_nothing_is_stored(ingest, service_client):
    assert service_client.put("/api/v1/subjects/subject-1/opt-out").status_code == 200
    response = ingest(subject_id="subject-1")
    assert response.status_code == 409
    assert error_code(response) == "subject_opted_out"
    assert not Clip.objects.exists()
    assert not any(path.is_file() for path in blob_dir().rglob("*"))


def test_opting_out_withdraws_queued_clips(ingest, service_client):
    ingest(subject_id="subject-1")
    ingest(subject_id="subject-1")
    ingest(subject_id="subject-2")
    response = service_client.put("/api/v1/subjects/subject-1/opt-out")
    assert response.json() == {"subject_id": "subject-1", "opted_out": True, "withdrawn": 2}
    assert set(Clip.objects.filter(subject_id="subject-1").values_list("status", flat=True)) == {"withdrawn"}
    assert Clip.objects.get(subject_id="subject-2").status == "queued"
    event = AccessEvent.objects.get(action="subject.opt_out")
    assert event.extra["withdrawn"] == 2


def test_opting_back_in_allows_future_clips_only(ingest, service_client):
    ingest(subject_id="subject-1")
    service_client.put("/api/v1/subjects/subject-1/opt-out")
    response = service_client.delete("/api/v1/subjects/subject-1/opt-out")
    assert response.json() == {"subject_id": "subject-1", "opted_out": False}
    assert ingest(subject_id="subject-1").status_code == 201
    assert sorted(Clip.objects.values_list("status", flat=True)) == ["queued", "withdrawn"]


def test_an_upload_over_the_cap_is_refused_before_it_is_read(api_key_secret, settings):
    settings.REVIEWSVC_MAX_UPLOAD_BYTES = 1000
    client = APIClient()
    body = make_wav(seconds=1.0)
    response = client.generic(
        "POST",
        "/api/v1/clips",
        data=body,
        content_type="multipart/form-data; boundary=x",
        HTTP_AUTHORIZATION=f"Api-Key {api_key_secret}",
        CONTENT_LENGTH=str(2 * 1024**3),
    )
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


def test_a_file_over_the_cap_is_refused_while_streaming(ingest, settings):
    settings.REVIEWSVC_MAX_UPLOAD_BYTES = 10_000
    response = ingest(audio=make_wav(seconds=1.0))
    assert response.status_code == 413
    assert not Clip.objects.exists()


def test_wrong_magic_bytes_are_unsupported(ingest):
    response = ingest(audio=b"%PDF-1.7 not audio at all" * 10)
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_a_wav_header_that_lies_about_its_length_is_invalid(ingest):
    audio = bytearray(make_wav(seconds=0.5))
    data_at = audio.index(b"data")
    struct.pack_into("<I", audio, data_at + 4, 10_000_000)
    response = ingest(audio=bytes(audio))
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject_id", "../../etc"),
        ("subject_id", "x" * 129),
        ("subject_id", ""),
        ("language", "german"),
        ("region", "MARS"),
        ("activation", "maybe"),
        ("captured_at", "yesterday"),
    ],
)
def test_invalid_fields_answer_400_with_the_field_named(ingest, field, value):
    response = ingest(**{field: value})
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert field in body["fields"]
    assert not Clip.objects.exists()


def test_a_missing_audio_part_is_a_validation_error(service_client):
    response = service_client.post(
        "/api/v1/clips", {"subject_id": "s", "language": "de-DE", "region": "EU"}, format="multipart"
    )
    assert response.status_code == 400
    assert "audio" in response.json()["error"]["fields"]


def test_two_files_in_one_upload_are_refused_and_nothing_is_stored(service_client):
    first, second = io.BytesIO(make_wav()), io.BytesIO(make_wav(frequency=523.0))
    first.name, second.name = "clip.wav", "other.wav"
    response = service_client.post(
        "/api/v1/clips",
        {"subject_id": "s", "language": "de-DE", "region": "EU", "audio": first, "extra": second},
        format="multipart",
    )
    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert response.json()["error"]["message"] == "Send exactly one audio file."
    assert not Clip.objects.exists()
    assert not any(path.is_file() for path in blob_dir().rglob("*"))


def test_json_instead_of_multipart_is_refused(service_client):
    response = service_client.post("/api/v1/clips", {"subject_id": "s"}, format="json")
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_clients_cannot_set_server_fields(ingest):
    response = ingest(status="transcribed", duration_ms="1", id="00000000-0000-0000-0000-000000000001")
    assert response.status_code == 201
    clip = Clip.objects.get(pk=response.json()["id"])
    assert clip.status == "queued"
    assert clip.duration_ms == 1000
    assert str(clip.id) != "00000000-0000-0000-0000-000000000001"


def test_without_a_key_the_call_needs_authentication():
    response = APIClient().post("/api/v1/clips", {}, format="multipart")
    assert response.status_code == 401
    assert error_code(response) == "authentication_required"


@pytest.mark.parametrize("header", ["Api-Key rsk_wrong", "Api-Key ", "Api-Key " + "x" * 5000, "Api-Key rsk_a\x00b"])
def test_a_wrong_key_is_invalid_credentials(header):
    response = APIClient().get("/api/v1/clips/00000000-0000-0000-0000-000000000000", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"


def test_a_key_without_the_scope_is_refused(scoped_client):
    client = scoped_client("transcripts:read")
    response = client.post("/api/v1/clips", {}, format="multipart")
    assert response.status_code == 403
    assert error_code(response) == "scope_missing"
    assert client.put("/api/v1/subjects/s/opt-out").json()["error"]["code"] == "scope_missing"


def test_a_revoked_key_stops_working_at_once(ingest, service_client):
    from apps.accounts.services import api_key_revoke
    from apps.common.context import RequestContext

    api_key_revoke(name="product-backend", context=RequestContext.system("tests"))
    assert ingest().status_code == 401


@pytest.mark.parametrize("clip_id", ["00000000-0000-0000-0000-000000000000", "1", "../x", "%00"])
def test_unknown_or_malformed_clip_ids_are_not_found(service_client, clip_id):
    response = service_client.get(f"/api/v1/clips/{clip_id}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_opt_out_refuses_a_malformed_subject_in_the_path(service_client):
    response = service_client.put("/api/v1/subjects/bad%20id/opt-out")
    assert response.status_code == 400


def test_opt_out_ignores_a_subject_in_the_body(ingest, service_client):
    ingest(subject_id="victim")
    response = service_client.put("/api/v1/subjects/attacker/opt-out", {"subject_id": "victim"}, format="json")
    assert response.json()["subject_id"] == "attacker"
    assert Clip.objects.get(subject_id="victim").status == "queued"
    assert not Subject.objects.get(subject_id="victim").opted_out
