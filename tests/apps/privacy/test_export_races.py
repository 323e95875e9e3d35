"""Two exports for two subjects built at the same moment never mix (hostile input 10)."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.db import connection
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.clips.services import clip_storage
from apps.common.context import RequestContext
from apps.privacy.models import Export, ExportStatus
from apps.privacy.services import export_build
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.crypto.export import open_bundle
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip
from tests.conftest import requires_postgres

CLIPS_EACH = 4


def unpack(export: Export, recipient: X25519PrivateKey) -> dict[str, bytes]:
    with clip_storage().open(export.blob_name, "rb") as stored:
        _, chunks = open_bundle(io.BytesIO(stored.read()), private_key=recipient.private_bytes_raw())
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    return {name: archive.read(name) for name in archive.namelist()}


@requires_postgres  # SQLite's shared-cache test database answers "table is locked" to threads
@pytest.mark.django_db(transaction=True)
def test_two_builds_at_once_each_hold_only_their_subjects_clips():
    clips = {subject: {str(add_clip(subject).pk) for _ in range(CLIPS_EACH)} for subject in (SUBJECT, OTHER)}
    api_key, _ = api_key_create(name="privacy", scopes=["subjects:manage"], context=RequestContext.system("tests"))
    recipients = {subject: X25519PrivateKey.generate() for subject in clips}
    exports = {
        subject: Export.objects.create(
            subject_id=subject,
            api_key=api_key,
            recipient_public_key=recipients[subject].public_key().public_bytes_raw(),
            expires_at=timezone.now() + timedelta(hours=24),
        )
        for subject in clips
    }
    barrier = threading.Barrier(len(exports))
    results: dict[str, str] = {}

    def build(subject: str) -> None:
        try:
            barrier.wait()
            results[subject] = export_build(export_id=str(exports[subject].pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=build, args=(subject,)) for subject in exports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert results == dict.fromkeys(clips, ExportStatus.READY)
    for subject, export in exports.items():
        export.refresh_from_db()
        files = unpack(export, recipients[subject])
        listed = {c["id"] for c in json.loads(files["clips.json"])}
        audio = {name.removeprefix("audio/").removesuffix(".wav") for name in files if name.startswith("audio/")}
        assert listed == audio == clips[subject]
        assert json.loads(files["manifest.json"])["subject_id"] == subject
        # Each bundle opens only with its own recipient's key.
        other = OTHER if subject == SUBJECT else SUBJECT
        with pytest.raises(DecryptionError):
            unpack(export, recipients[other])
