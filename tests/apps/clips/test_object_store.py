"""Clips on an S3 bucket through django-storages: sealed blobs under server names, deletion, and
the Storage calls an orphan sweep makes; object lock as SeaweedFS enforces it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile

from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip, ClipStatus
from apps.clips.services import blobs_sweep_batch, clip_storage, clips_shred
from tests.seaweedfs import SESSION_BUCKET
from tests.support import ingest_clip, make_wav

pytestmark = [pytest.mark.django_db, pytest.mark.s3]


def stored_object(object_store, location: str, name: str) -> bytes:
    return object_store.client().get_object(Bucket=SESSION_BUCKET, Key=f"{location}/{name}")["Body"].read()


def test_a_clip_lands_in_the_bucket_sealed_under_a_name_the_server_chose(object_store, s3_clip_storage):
    clip = ingest_clip(seconds=1.0)

    stored = stored_object(object_store, s3_clip_storage, clip.blob_name)

    assert clip.blob_name == f"{clip.id.hex[:2]}/{clip.id.hex}.rvs"
    assert make_wav(seconds=1.0)[44:4096] not in stored
    assert len(stored) == clip.size_bytes + 12 + 16  # one segment: header and one tag, nothing in the clear
    assert b"".join(clip_audio_chunks(clip=clip)) == make_wav(seconds=1.0)


def test_a_blob_changed_in_the_bucket_fails_to_decrypt(object_store, s3_clip_storage):
    from reviewsvc.crypto.errors import DecryptionError

    clip = ingest_clip(seconds=1.0)
    tampered = bytearray(stored_object(object_store, s3_clip_storage, clip.blob_name))
    tampered[100] ^= 1
    object_store.client().put_object(
        Bucket=SESSION_BUCKET, Key=f"{s3_clip_storage}/{clip.blob_name}", Body=bytes(tampered)
    )

    with pytest.raises(DecryptionError):
        b"".join(clip_audio_chunks(clip=clip))


def test_shredding_and_the_blob_sweep_delete_the_object_from_the_bucket(object_store, s3_clip_storage):
    clip = ingest_clip(seconds=0.5)
    key = f"{s3_clip_storage}/{clip.blob_name}"

    clips_shred(clips=Clip.objects.filter(pk=clip.pk), status=ClipStatus.DELETED)
    assert blobs_sweep_batch() == 1

    with pytest.raises(ClientError, match="NoSuchKey|Not Found|404"):
        object_store.client().head_object(Bucket=SESSION_BUCKET, Key=key)
    assert not clip_storage().exists(clip.blob_name)


def test_the_storage_lists_dates_and_deletes_what_an_orphan_sweep_needs(s3_clip_storage):
    storage = clip_storage()
    before = datetime.now(UTC).replace(microsecond=0)
    orphan = storage.save("ab/orphan.rvs", ContentFile(b"sealed bytes"))
    kept = ingest_clip(seconds=0.2)

    folders, _ = storage.listdir("")
    files = {folder: storage.listdir(folder)[1] for folder in folders}
    modified = storage.get_modified_time(orphan)
    storage.delete(orphan)

    assert files["ab"] == ["orphan.rvs"]
    assert kept.blob_name.split("/")[1] in files[kept.blob_name.split("/")[0]]
    assert modified.tzinfo is not None
    assert modified >= before
    assert not storage.exists(orphan)
    assert storage.exists(kept.blob_name)


@pytest.fixture
def locked_bucket(object_store) -> str:
    """A bucket created with object lock and a default COMPLIANCE retention of one day."""
    bucket = f"rs-locked-{uuid.uuid4().hex[:12]}"
    client = object_store.client()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    return bucket


def test_a_checkpoint_written_to_a_locked_bucket_cannot_be_deleted_or_overwritten(object_store, locked_bucket):
    """What SeaweedFS enforces: a retained version refuses deletion; a Storage delete or overwrite
    only adds a delete marker or a new version, and the checkpoint as first written stays readable."""
    from storages.backends.s3 import S3Storage

    sink = S3Storage(**object_store.storage_options(locked_bucket))
    client = object_store.client()
    name = sink.save("checkpoints/000001.json", ContentFile(b'{"seq": 1}'))
    first_version = client.head_object(Bucket=locked_bucket, Key=name)["VersionId"]
    retention = client.get_object_retention(Bucket=locked_bucket, Key=name, VersionId=first_version)["Retention"]

    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=locked_bucket, Key=name, VersionId=first_version)
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=locked_bucket, Key=name, VersionId=first_version, BypassGovernanceRetention=True)
    client.put_object(Bucket=locked_bucket, Key=name, Body=b'{"seq": 666}')
    sink.delete(name)

    assert retention["Mode"] == "COMPLIANCE"
    original = client.get_object(Bucket=locked_bucket, Key=name, VersionId=first_version)["Body"].read()
    assert original == b'{"seq": 1}'


def test_the_ranged_reader_seeks_and_reads_like_a_file(object_store, s3_location):
    from apps.clips.blobs import RangedObjectReader

    key = f"{s3_location}/plain.bin"
    object_store.client().put_object(Bucket=SESSION_BUCKET, Key=key, Body=bytes(range(100)))
    reader = RangedObjectReader(client=object_store.client(), bucket=SESSION_BUCKET, key=key)

    assert reader.seek(0, 2) == 100  # the size from a HEAD, before any read
    assert reader.read(5) == b""
    assert reader.seek(10) == 10
    assert reader.read(0) == b""
    assert reader.read(3) == bytes([10, 11, 12])
    assert reader.seek(-3, 1) == 10
    assert reader.read() == bytes(range(10, 100))
    assert reader.read(1) == b""
