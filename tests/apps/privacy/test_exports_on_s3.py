"""Export bundles on an S3 bucket: built sealed into the bucket, downloaded once, then gone."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from apps.clips.services import clip_storage
from apps.privacy.models import Export
from tests.apps.privacy.conftest import add_clip
from tests.apps.privacy.test_exports import download, export_ready, path_of, unpack

pytestmark = [pytest.mark.django_db, pytest.mark.s3]


def test_a_bundle_built_into_the_bucket_is_sealed_downloads_once_and_is_removed(
    service_client, django_capture_on_commit_callbacks, s3_clip_storage
):
    recipient = X25519PrivateKey.generate()
    clip = add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    blob_name = Export.objects.get(pk=status["id"]).blob_name
    with clip_storage().open(blob_name, "rb") as stored:
        sealed = stored.read()

    files = unpack(download(service_client, status), recipient)

    assert b"RIFF" not in sealed
    assert b"manifest.json" not in sealed
    assert files[f"audio/{clip.pk}.wav"].startswith(b"RIFF")
    assert not clip_storage().exists(blob_name)
    assert service_client.get(path_of(status["download_url"])).status_code == 410
