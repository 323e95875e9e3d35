"""Data-subject exports (SECURITY 16, hostile input 10): exactly one subject's data, to one key, once."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.audit.models import AccessEvent
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.clips.services import clip_storage
from apps.common.keys import key_provider
from apps.common.models import OutboxMessage
from apps.privacy import services
from apps.privacy.models import Export, ExportStatus
from apps.privacy.services import exports
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.crypto.export import check_manifest_signature, open_bundle
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip, subject_events
from tests.support import lease_next, make_wav, transcript_submit

pytestmark = pytest.mark.django_db

URL = f"/api/v1/subjects/{SUBJECT}/exports"
AUDIO = make_wav(seconds=0.2)
# A point of order 8 on Curve25519: every shared secret with it is all-zero.
LOW_ORDER_POINT = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


@pytest.fixture
def recipient() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_b64(private: X25519PrivateKey) -> str:
    return base64.b64encode(private.public_key().public_bytes_raw()).decode()


def request_export(client, recipient, subject_id: str = SUBJECT):
    return client.post(
        f"/api/v1/subjects/{subject_id}/exports", {"recipient_public_key": public_b64(recipient)}, format="json"
    )


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def export_ready(client, recipient, capture, subject_id: str = SUBJECT) -> dict:
    with capture(execute=True):
        response = request_export(client, recipient, subject_id)
    assert response.status_code == 202, response.content
    status = client.get(path_of(response.json()["status_url"])).json()
    assert status["status"] == "ready", status
    return status


def download(client, status: dict) -> bytes:
    response = client.get(path_of(status["download_url"]))
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def unpack(bundle: bytes, recipient: X25519PrivateKey) -> dict[str, bytes]:
    _, chunks = open_bundle(io.BytesIO(bundle), private_key=recipient.private_bytes_raw())
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    return {name: archive.read(name) for name in archive.namelist()}


def test_the_bundle_holds_exactly_the_subjects_data(
    service_client, alice_client, recipient, django_capture_on_commit_callbacks
):
    first, second = add_clip(), add_clip()
    foreign = add_clip(OTHER)
    transcript_submit(alice_client, lease_next(alice_client)["assignment"], text="guten morgen")

    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    files = unpack(download(service_client, status), recipient)

    assert sorted(files) == sorted(
        [
            f"audio/{first.pk}.wav",
            f"audio/{second.pk}.wav",
            "clips.json",
            "transcripts.json",
            "access-log.json",
            "manifest.json",
            "manifest.sig",
        ]
    )
    assert files[f"audio/{first.pk}.wav"] == AUDIO
    clips = json.loads(files["clips.json"])
    assert [c["id"] for c in clips] == [str(first.pk), str(second.pk)]
    [transcript] = json.loads(files["transcripts.json"])
    assert transcript["clip"] == str(first.pk)
    assert transcript["text"] == "guten morgen"
    assert {e["action"] for e in json.loads(files["access-log.json"])} == {"review.lease", "transcript.submit"}
    signature = files.pop("manifest.sig")
    manifest_bytes = files.pop("manifest.json")
    check_manifest_signature(manifest_bytes, signature, signing_key=key_provider().signing_public_key())
    manifest = json.loads(manifest_bytes)
    assert manifest["subject_id"] == SUBJECT
    assert manifest["export_id"] == status["id"]
    assert manifest["files"] == {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in files.items()
    }
    assert not any(str(foreign.pk).encode() in data or OTHER.encode() in data for data in files.values())


def test_the_stored_bundle_is_ciphertext_only(
    service_client, alice_client, recipient, django_capture_on_commit_callbacks
):
    add_clip()
    transcript_submit(alice_client, lease_next(alice_client)["assignment"], text="ein vertraulicher satz")

    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)

    export = Export.objects.get(pk=status["id"])
    with clip_storage().open(export.blob_name, "rb") as stored:
        bundle = stored.read()
    assert AUDIO[44:1044] not in bundle
    assert b"vertraulicher" not in bundle
    assert b"RIFF" not in bundle
    assert b"manifest.json" not in bundle


def test_it_answers_202_with_a_status_url_built_from_the_site_url(
    service_client, recipient, settings, django_capture_on_commit_callbacks
):
    settings.REVIEWSVC_SITE_URL = "https://review.example"
    add_clip()

    with django_capture_on_commit_callbacks(execute=False):
        response = request_export(service_client, recipient, SUBJECT)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status_url"}
    assert body["status_url"] == f"https://review.example/api/v1/subjects/{SUBJECT}/exports/{body['id']}"


def test_it_downloads_once(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    response = service_client.get(path_of(status["download_url"]), HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Cache-Control"] == "no-store"
    b"".join(response.streaming_content)

    again = service_client.get(path_of(status["download_url"]))

    assert again.status_code == 410
    assert again.json()["error"]["code"] == "export_gone"
    [denied] = subject_events(SUBJECT, "export.download", outcome="denied")
    assert denied.reason == "export_gone"
    after = service_client.get(path_of(status["download_url"]).removesuffix("/download")).json()
    assert after["status"] == "downloaded"
    assert after["download_url"] is None
    assert Export.objects.get(pk=status["id"]).blob_name == ""


def test_it_refuses_a_download_after_24_hours(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)

    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        response = service_client.get(path_of(status["download_url"]))

        status_now = service_client.get(path_of(status["download_url"]).removesuffix("/download")).json()

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "export_gone"
    assert subject_events(SUBJECT, "export.download", outcome="granted") == []
    assert status_now["download_url"] is None


def test_the_retention_sweep_removes_expired_bundles(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    blob_name = Export.objects.get(pk=status["id"]).blob_name

    assert services.retention_sweep(now=timezone.now() + timedelta(hours=25))["exports"] == 1

    assert not clip_storage().exists(blob_name)


def test_another_key_gets_404_for_status_and_download(
    service_client, scoped_client, recipient, django_capture_on_commit_callbacks
):
    add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    stranger = scoped_client("subjects:manage")

    for url in (status["download_url"], status["download_url"].removesuffix("/download")):
        response = stranger.get(path_of(url))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    denied = AccessEvent.objects.filter(outcome="denied", action__in=["export.status", "export.download"])
    assert denied.count() == 2
    assert {event.actor_kind for event in denied} == {"api_key"}
    # The stranger's attempt did not use up the owner's one download.
    assert download(service_client, status)


def test_an_export_id_under_another_subject_is_404(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    add_clip(OTHER)
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    tampered = path_of(status["download_url"]).replace(f"/subjects/{SUBJECT}/", f"/subjects/{OTHER}/")

    response = service_client.get(tampered)

    assert response.status_code == 404
    [denied] = subject_events(OTHER, "export.download", outcome="denied")
    assert denied.reason == "not_found"
    assert service_client.get(f"/api/v1/subjects/{SUBJECT}/exports/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 33).decode(),
        base64.b64encode(LOW_ORDER_POINT).decode(),
        base64.b64encode(bytes(32)).decode(),
        ["a", "b"],
        2**64,
        {"$ne": None},
        "A" * 100_000,
        None,
    ],
    ids=["garbage", "31", "33", "low-order", "zero", "list", "int", "object", "huge", "null"],
)
def test_it_refuses_unusable_recipient_keys(service_client, value):
    response = service_client.post(URL, {"recipient_public_key": value}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Export.objects.exists()


def test_a_body_cannot_name_another_subject(service_client, recipient):
    response = service_client.post(
        URL, {"recipient_public_key": public_b64(recipient), "subject_id": OTHER}, format="json"
    )

    assert response.status_code == 400
    assert not Export.objects.exists()


def test_it_refuses_a_key_without_the_subjects_scope(scoped_client, recipient):
    add_clip()

    response = request_export(scoped_client("clips:ingest", "transcripts:read"), recipient)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    assert not Export.objects.exists()


def test_every_step_is_an_event(service_client, recipient, django_capture_on_commit_callbacks):
    clip = add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    download(service_client, status)

    [asked] = subject_events(SUBJECT, "export.request")
    [built] = subject_events(SUBJECT, "export.build")
    [fetched] = subject_events(SUBJECT, "export.download")
    assert asked.actor_kind == fetched.actor_kind == "api_key"
    assert built.actor_kind == "system"
    assert {asked.extra["export"], built.extra["export"], fetched.extra["export"]} == {status["id"]}
    assert built.extra["clips"] == built.extra["audio_files"] == 1
    assert built.extra["clips_digest"] == services.ids_digest([clip.pk])
    # No key material in the log: not even the public key the bundle was made for.
    every_event = json.dumps(list(AccessEvent.objects.values("extra", "reason", "actor_label")))
    assert public_b64(recipient) not in every_event
    assert public_b64(recipient)[:16] not in every_event


def test_the_build_task_carries_the_export_id_only(service_client, recipient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export_id = request_export(service_client, recipient).json()["id"]

    assert list(OutboxMessage.objects.values_list("task", "kwargs")) == [
        ("privacy.export_build", {"export_id": export_id})
    ]


def test_a_download_before_the_bundle_is_built_is_refused(
    service_client, recipient, django_capture_on_commit_callbacks
):
    add_clip()
    with django_capture_on_commit_callbacks(execute=False):
        export_id = request_export(service_client, recipient).json()["id"]

    status = service_client.get(f"{URL}/{export_id}").json()
    response = service_client.get(f"{URL}/{export_id}/download")

    assert status["status"] == "pending"
    assert status["download_url"] is None
    assert response.status_code == 409


def test_a_foreign_item_fails_the_whole_export(
    service_client, recipient, monkeypatch, django_capture_on_commit_callbacks
):
    add_clip()
    foreign = add_clip(OTHER)
    # A bug in the query that picks the subject's clips: the assertion must catch it.
    monkeypatch.setattr(exports, "_subject_clips", lambda subject_id: iter([foreign]))

    with django_capture_on_commit_callbacks(execute=True):
        export_id = request_export(service_client, recipient).json()["id"]

    export = Export.objects.get(pk=export_id)
    assert export.status == ExportStatus.FAILED
    assert export.failure == "subject_mismatch"
    assert export.blob_name == ""
    [denied] = subject_events(SUBJECT, "export.build", outcome="denied")
    assert denied.reason == "subject_mismatch"
    assert service_client.get(f"{URL}/{export_id}/download").status_code == 410


def test_without_the_assertion_a_foreign_clip_still_fails_to_decrypt(
    service_client, recipient, monkeypatch, django_capture_on_commit_callbacks
):
    foreign = add_clip(OTHER)
    monkeypatch.setattr(exports, "_subject_clips", lambda subject_id: iter([foreign]))
    monkeypatch.setattr(exports, "_assert_subject", lambda actual, expected: None)

    with django_capture_on_commit_callbacks(execute=True):
        export_id = request_export(service_client, recipient).json()["id"]

    export = Export.objects.get(pk=export_id)
    assert export.status == ExportStatus.FAILED
    assert export.failure == "build_failed"
    assert export.blob_name == ""


def test_a_foreign_clip_does_not_decrypt_under_the_exported_subject():
    foreign = add_clip(OTHER)

    with pytest.raises(DecryptionError):
        b"".join(clip_audio_chunks(clip=foreign, subject_id=SUBJECT))


def test_an_export_queued_before_a_deletion_holds_nothing_deleted(
    service_client, alice_client, recipient, django_capture_on_commit_callbacks
):
    add_clip()
    transcript_submit(alice_client, lease_next(alice_client)["assignment"], text="bald gelöscht")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        export_id = request_export(service_client, recipient).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        service_client.delete(f"/api/v1/subjects/{SUBJECT}/clips")

    for task in queued:
        task()  # the build runs now, after the deletion, and reads the state as it is now

    files = unpack(download(service_client, {"download_url": f"{URL}/{export_id}/download"}), recipient)
    assert not any(name.startswith("audio/") for name in files)
    assert [c["status"] for c in json.loads(files["clips.json"])] == ["deleted"]
    assert [t["text"] for t in json.loads(files["transcripts.json"])] == [""]


def test_an_export_never_built_fails_after_24_hours(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    with django_capture_on_commit_callbacks(execute=False):
        export_id = request_export(service_client, recipient).json()["id"]
    later = timezone.now() + timedelta(hours=24, minutes=1)

    with time_machine.travel(later):
        gone = service_client.get(f"{URL}/{export_id}/download")
        services.retention_sweep(now=later)
        status = service_client.get(f"{URL}/{export_id}").json()

    assert gone.status_code == 410
    assert status["status"] == "failed"
    assert status["download_url"] is None


def test_a_build_that_starts_after_the_24_hours_fails(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        export_id = request_export(service_client, recipient).json()["id"]

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        for task in queued:
            task()

    assert Export.objects.get(pk=export_id).status == ExportStatus.FAILED


def test_a_redelivered_build_does_nothing(service_client, recipient, django_capture_on_commit_callbacks):
    add_clip()
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    blob_name = Export.objects.get(pk=status["id"]).blob_name

    assert services.export_build(export_id=status["id"]) == ExportStatus.READY

    assert Export.objects.get(pk=status["id"]).blob_name == blob_name
    assert len(subject_events(SUBJECT, "export.build")) == 1


def test_the_decrypt_export_command_opens_and_verifies_a_bundle(
    service_client, recipient, tmp_path, django_capture_on_commit_callbacks
):
    clip = add_clip()
    bundle = tmp_path / "export.rvx"
    bundle.write_bytes(
        download(service_client, export_ready(service_client, recipient, django_capture_on_commit_callbacks))
    )
    key_file = tmp_path / "recipient.pem"
    key_file.write_bytes(
        recipient.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    out = io.StringIO()

    call_command(
        "decrypt_export", str(bundle), "--private-key", str(key_file), "--out", str(tmp_path / "out"), stdout=out
    )

    assert "signature and 4 files verified" in out.getvalue()
    assert (tmp_path / "out" / "audio" / f"{clip.pk}.wav").read_bytes() == AUDIO
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(base64.b64encode(X25519PrivateKey.generate().private_bytes_raw()))
    with pytest.raises(CommandError) as refused:
        call_command("decrypt_export", str(bundle), "--private-key", str(wrong), "--out", str(tmp_path / "no"))
    assert refused.value.returncode == 1


def test_an_opted_out_subject_can_still_export_what_is_left(
    service_client, recipient, django_capture_on_commit_callbacks
):
    clip = add_clip()
    service_client.put(f"/api/v1/subjects/{SUBJECT}/opt-out")

    files = unpack(
        download(service_client, export_ready(service_client, recipient, django_capture_on_commit_callbacks)), recipient
    )

    assert [c["id"] for c in json.loads(files["clips.json"])] == [str(clip.pk)]
    assert not any(name.startswith("audio/") for name in files)
    assert Clip.objects.get().status == "withdrawn"


def test_the_standalone_client_decrypts_without_django(
    service_client, recipient, tmp_path, django_capture_on_commit_callbacks
):
    clip = add_clip()
    bundle = tmp_path / "export.rvx"
    status = export_ready(service_client, recipient, django_capture_on_commit_callbacks)
    bundle.write_bytes(download(service_client, status))
    key_file = tmp_path / "recipient.key"
    key_file.write_bytes(base64.b64encode(recipient.private_bytes_raw()))
    published = io.StringIO()
    call_command("export_signing_key", stdout=published)
    signing_key = tmp_path / "service.pub"
    signing_key.write_text(published.getvalue().split()[-1])
    script = Path(__file__).resolve().parents[3] / "bin" / "decrypt-export"

    def decrypt(out: str, signing: Path = signing_key) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), str(bundle), "--private-key", str(key_file), "--signing-key", str(signing)]
            + ["--out", str(tmp_path / out)],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )

    result = decrypt("out")
    assert result.returncode == 0, result.stderr
    assert "signature and 4 files verified" in result.stdout
    assert (tmp_path / "out" / "audio" / f"{clip.pk}.wav").read_bytes() == AUDIO
    # Against any key but the service's, the same bundle is not reported verified.
    other = tmp_path / "other.pub"
    other.write_bytes(base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()))
    refused = decrypt("other", other)
    assert refused.returncode == 1
    assert "verified" not in refused.stdout
    tampered = bytearray(bundle.read_bytes())
    tampered[-1] ^= 1
    bundle.write_bytes(bytes(tampered))
    assert decrypt("again").returncode == 1


def test_the_decrypt_export_command_answers_2_on_usage_errors(tmp_path):
    bundle = tmp_path / "export.rvx"
    bundle.write_bytes(b"anything")
    key_file = tmp_path / "key"
    key_file.write_bytes(base64.b64encode(X25519PrivateKey.generate().private_bytes_raw()))

    with pytest.raises(CommandError) as no_key:
        call_command("decrypt_export", str(bundle), "--private-key", str(tmp_path / "missing"), "--out", str(tmp_path))
    with pytest.raises(CommandError) as no_bundle:
        call_command(
            "decrypt_export", str(tmp_path / "missing"), "--private-key", str(key_file), "--out", str(tmp_path)
        )

    assert no_key.value.returncode == 2
    assert no_bundle.value.returncode == 2
