"""Ingest, opt-out and key rotation write their events through event_record, and no event holds a secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.audit.models import AccessEvent
from apps.audit.selectors import audit_log_verify, subject_pseudonym
from apps.privacy.services import ids_digest
from reviewsvc.audit import chain
from tests.support import make_wav

pytestmark = pytest.mark.django_db


def event(action: str) -> AccessEvent:
    return AccessEvent.objects.get(action=action)


def test_an_ingest_writes_one_granted_event_naming_clip_subject_and_key(ingest):
    response = ingest(subject_id="subject-1")
    assert response.status_code == 201
    logged = event("clip.ingest")
    assert str(logged.clip_id) == response.json()["id"]
    assert logged.subject_pseudonym == subject_pseudonym("subject-1")
    assert (logged.actor_kind, logged.actor_label, logged.outcome) == ("api_key", "product-backend", "granted")
    assert logged.client_address == "127.0.0.1"
    assert set(logged.extra) == {"duration_ms", "format", "bytes", "uploaded_bytes"}


def test_an_opt_out_writes_one_event_with_the_count_and_a_digest_not_a_list(ingest, service_client):
    clip_ids = [ingest(subject_id="subject-1").json()["id"] for _ in range(3)]
    response = service_client.put("/api/v1/subjects/subject-1/opt-out")
    assert response.json()["withdrawn"] == 3
    (logged,) = AccessEvent.objects.filter(action="subject.opt_out")
    assert logged.subject_pseudonym == subject_pseudonym("subject-1")
    assert logged.extra["withdrawn"] == 3
    assert logged.extra["clips_digest"] == ids_digest(clip_ids)
    assert not any(clip_id in json.dumps(logged.extra) for clip_id in clip_ids)


def test_a_master_key_rotation_writes_its_event():
    call_command("rotate_master_key")
    logged = event("key.rotate")
    assert (logged.actor_kind, logged.actor_label) == ("system", "manage.py rotate_master_key")
    assert logged.extra == {"version": 2}


def test_no_event_holds_a_secret_a_raw_subject_id_or_audio(ingest, service_client, api_key_secret):
    audio = make_wav(seconds=0.5, frequency=523.0)
    assert ingest(subject_id="subject-secret-77", audio=audio).status_code == 201
    service_client.put("/api/v1/subjects/subject-secret-77/opt-out")
    service_client.delete("/api/v1/subjects/subject-secret-77/opt-out")
    call_command("rotate_master_key")
    assert ingest(subject_id="subject-secret-77", audio=b"RIFF" + b"\x00" * 40).status_code == 415

    secrets = [api_key_secret, api_key_secret[:16], "subject-secret-77"]
    if settings.REVIEWSVC_KEY_PROVIDER == "local":
        # A token's keys cannot be read at all (tests/reviewsvc/crypto/test_pkcs11_key_provider.py).
        key_file = json.loads(Path(settings.REVIEWSVC_KEY_FILE).read_text())
        secrets += [key_file["signing_seed"], key_file["pseudonym_secret"], *key_file["master_keys"].values()]
    pcm = audio[44:108]
    audio_forms = [pcm.hex(), base64.b64encode(pcm).decode(), pcm.decode("latin-1")]
    events = list(AccessEvent.objects.all())
    assert {e.action for e in events} >= {"clip.ingest", "subject.opt_out", "subject.opt_in", "key.rotate"}
    for logged in events:
        stored = "\x00".join(chain.text_of(name, getattr(logged, name)) for name in chain.HASHED_FIELDS)
        for secret in secrets + audio_forms:
            assert secret not in stored, f"event {logged.seq} ({logged.action}) holds a secret or content"
        assert len(stored) < 4096
    assert audit_log_verify().ok
