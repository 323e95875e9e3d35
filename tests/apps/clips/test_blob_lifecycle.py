"""A stored blob goes only with its row: ingest removes it only when nothing committed, and a
periodic sweep removes files no row refers to once they are past the grace period."""

from __future__ import annotations

import dataclasses
import errno
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.models import AccessEvent
from apps.clips import services
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.clips.services import blobs_orphans_sweep, clip_storage
from apps.privacy.models import Export
from tests.support import ingest_clip, make_wav


def blob_root() -> Path:
    return Path(settings.STORAGES["clips"]["OPTIONS"]["location"])


def age(name: str, *, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(blob_root() / name, (then, then))


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_commit_leaves_the_clip_and_its_audio(monkeypatch):
    real_event_record = services.event_record

    def record_then_fail_after_commit(**kwargs):
        event = real_event_record(**kwargs)
        # An error raised once the transaction has committed, like a failed flush barrier.
        transaction.on_commit(lambda: (_ for _ in ()).throw(ConnectionError("flush barrier lost")))
        return event

    monkeypatch.setattr(services, "event_record", record_then_fail_after_commit)
    with pytest.raises(ConnectionError):
        ingest_clip(subject_id="after-commit")

    [clip] = Clip.objects.filter(subject_id="after-commit")
    assert clip_storage().exists(clip.blob_name)
    assert b"".join(clip_audio_chunks(clip=clip)) == make_wav(seconds=1.0)


@pytest.mark.django_db(transaction=True)
def test_a_failure_before_the_commit_removes_the_blob(monkeypatch):
    def fail(**kwargs):
        raise ConnectionError("database lost mid-transaction")

    monkeypatch.setattr(services, "event_record", fail)
    with pytest.raises(ConnectionError):
        ingest_clip(subject_id="before-commit")

    assert not Clip.objects.filter(subject_id="before-commit").exists()
    assert not [path for path in blob_root().rglob("*") if path.is_file()]


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_removes_the_blob(monkeypatch):
    real_clean = services.clean

    def negative_duration(data):
        cleaned = real_clean(data)
        return dataclasses.replace(cleaned, info=dataclasses.replace(cleaned.info, duration_ms=-1))

    monkeypatch.setattr(services, "clean", negative_duration)
    with pytest.raises(IntegrityError, match="duration_ms"):
        ingest_clip(subject_id="refused-row")

    assert not Clip.objects.filter(subject_id="refused-row").exists()
    assert not AccessEvent.objects.filter(action="clip.ingest").exists()
    assert not [path for path in blob_root().rglob("*") if path.is_file()]


@pytest.mark.django_db
def test_a_full_store_answers_503_and_records_nothing(ingest, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(clip_storage()), "save", full)
    response = ingest()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert not Clip.objects.exists()


@pytest.mark.django_db
def test_the_sweep_removes_an_old_orphan_and_keeps_a_fresh_one_and_every_referenced_file():
    storage = clip_storage()
    clip = ingest_clip()
    old_orphan = storage.save("ab/old-orphan.rvs", ContentFile(b"sealed"))
    fresh_orphan = storage.save("ab/fresh-orphan.rvs", ContentFile(b"sealed"))
    grace = settings.REVIEWSVC_ORPHAN_BLOB_GRACE_SECONDS
    for name in (clip.blob_name, old_orphan):
        age(name, seconds=grace + 60)

    assert blobs_orphans_sweep() == 1

    assert storage.exists(clip.blob_name)
    assert storage.exists(fresh_orphan)
    assert not storage.exists(old_orphan)
    [event] = AccessEvent.objects.filter(action="blobs.orphans_removed")
    assert event.extra["count"] == 1


@pytest.mark.django_db
def test_the_sweep_keeps_a_bundle_an_export_refers_to(service_client, django_capture_on_commit_callbacks):
    from tests.apps.common.test_outbox import public_b64

    ingest_clip(subject_id="subject-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = service_client.post(
            "/api/v1/subjects/subject-1/exports", {"recipient_public_key": public_b64()}, format="json"
        )
    bundle = Export.objects.get(pk=response.json()["id"]).blob_name
    assert bundle
    age(bundle, seconds=settings.REVIEWSVC_ORPHAN_BLOB_GRACE_SECONDS + 60)

    blobs_orphans_sweep(now=timezone.now() + timedelta(seconds=1))

    assert clip_storage().exists(bundle)
    assert not AccessEvent.objects.filter(action="blobs.orphans_removed").exists()
