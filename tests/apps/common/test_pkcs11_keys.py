"""The service with its keys in a SoftHSM2 token: create_master_keys, /readyz, the migration from
the key file, running with no key material on disk, two processes sharing one token."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.accounts.models import EncryptedTOTPDevice
from apps.audit.models import AccessEvent
from apps.audit.selectors import audit_log_verify
from apps.audit.services import checkpoint_create
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.reviews.models import Transcript
from apps.reviews.services import transcript_read
from reviewsvc.crypto.keys import MAC_PURPOSES
from tests.apps.privacy.conftest import add_clip
from tests.conftest import requires_postgres, retire_unused_key_versions
from tests.personas import totp_code
from tests.softhsm import SoftHsmToken, destroy_prefix, key_provider_env, new_prefix
from tests.support import ingest_clip, lease_next, make_wav, transcript_submit

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def token(settings, softhsm: SoftHsmToken):
    """This test's own, empty namespace in the token, with keys made only by create_master_keys."""
    prefix = new_prefix()
    settings.REVIEWSVC_PKCS11_MODULE = softhsm.module
    settings.REVIEWSVC_PKCS11_TOKEN = softhsm.label
    settings.REVIEWSVC_PKCS11_PIN = softhsm.pin
    settings.REVIEWSVC_PKCS11_KEY_PREFIX = prefix
    settings.REVIEWSVC_PKCS11_CREATE_KEYS = False
    yield softhsm
    destroy_prefix(softhsm, prefix)


@pytest.fixture
def on_pkcs11(settings, token):
    settings.REVIEWSVC_KEY_PROVIDER = "pkcs11"
    return token


@pytest.fixture
def on_local(settings, token):
    """The key file first (for the migration), whichever provider the suite runs on."""
    settings.REVIEWSVC_KEY_PROVIDER = "local"
    return token


@pytest.fixture
def created(on_pkcs11):
    call_command("create_master_keys")
    return on_pkcs11


def test_an_empty_token_is_not_ready_until_create_master_keys_which_refuses_a_second_run(client, on_pkcs11):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["keys"]

    call_command("create_master_keys")

    assert client.get("/readyz").status_code == 200
    assert key_provider().versions() == [1]
    public_key = key_provider().signing_public_key()
    with pytest.raises(CommandError, match="already holds keys"):
        call_command("create_master_keys")
    assert key_provider().signing_public_key() == public_key
    created = AccessEvent.objects.get(action="key.create")
    assert created.extra == {"provider": "pkcs11", "version": 1}


def test_readyz_answers_503_while_the_token_is_unreachable_and_200_once_it_is_back(client, on_pkcs11):
    call_command("create_master_keys")
    assert client.get("/readyz").status_code == 200
    directory = on_pkcs11.unplugged()
    away = directory.with_name("away")
    shutil.move(directory, away)
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "down": ["keys"]}
        assert on_pkcs11.pin.encode() not in response.content
    finally:
        shutil.move(away, directory)
    assert client.get("/readyz").status_code == 200


def test_rotation_works_unchanged_with_the_token(ingest, on_pkcs11):
    call_command("create_master_keys")
    audio = make_wav(seconds=0.3)
    assert ingest(audio=audio).status_code == 201
    call_command("rotate_master_key")
    retire_unused_key_versions()
    clip = Clip.objects.get()
    assert clip.key_version == 2
    assert key_provider().versions() == [2]
    assert b"".join(clip_audio_chunks(clip=clip)) == audio


def test_the_service_runs_with_its_keys_only_in_the_token(
    settings, created, alice, alice_client, service_client, django_capture_on_commit_callbacks
):
    clip = add_clip()
    assignment = lease_next(alice_client)
    audio = alice_client.get(assignment["audio_url"])
    assert audio.status_code == 200
    assert b"".join(audio.streaming_content) == b"".join(clip_audio_chunks(clip=clip))
    transcript_submit(alice_client, assignment["assignment"], text="im token")
    assert service_client.get(f"/api/v1/clips/{clip.id}/transcript").json()["text"] == "im token"
    with django_capture_on_commit_callbacks(execute=True):
        assert checkpoint_create() is not None
    assert audit_log_verify().ok

    var = Path(settings.VAR_DIR)
    assert not Path(settings.REVIEWSVC_KEY_FILE).exists()
    assert not [p for p in var.rglob("*") if "key" in p.name.lower()], "key material under var/"


def test_migration_moves_every_key_into_the_token_and_changes_no_clip_pseudonym_or_signature(
    settings, on_local, alice, alice_client, capsys, django_capture_on_commit_callbacks
):
    clips = [add_clip(), add_clip(), add_clip("subject-2")]
    transcript_submit(alice_client, lease_next(alice_client)["assignment"], text="vor dem umzug")
    key_provider().rotate()  # two file versions, both in use
    clips.append(add_clip("subject-3"))
    audio_before = {clip.id: b"".join(clip_audio_chunks(clip=clip)) for clip in clips}
    macs_before = {purpose: key_provider().mac(purpose, b"subject-1") for purpose in MAC_PURPOSES}
    public_key = key_provider().signing_public_key()
    with django_capture_on_commit_callbacks(execute=True):
        assert checkpoint_create() is not None
    file_versions = set(key_provider().versions())

    call_command("migrate_master_keys", "--to", "pkcs11")

    out = capsys.readouterr().out
    assert "clips: 4 re-wrapped" in out
    assert "transcripts: 1 re-wrapped" in out
    assert "totp_seeds: 1 re-wrapped" in out
    # The service now runs on the token alone.
    settings.REVIEWSVC_KEY_PROVIDER = "pkcs11"
    Path(settings.REVIEWSVC_KEY_FILE).unlink()
    token_versions = key_provider().versions()
    assert token_versions == [max(file_versions) + 1]
    wrapped = [
        *Clip.objects.values_list("key_version", flat=True),
        *Transcript.objects.values_list("key_version", flat=True),
        *EncryptedTOTPDevice.objects.values_list("key_version", flat=True),
    ]
    assert set(wrapped) == set(token_versions)
    assert {clip.id: b"".join(clip_audio_chunks(clip=clip)) for clip in Clip.objects.all()} == audio_before
    transcribed = Transcript.objects.get().clip_id
    assert transcript_read(clip_id=transcribed, context=RequestContext.system("tests")).text == "vor dem umzug"
    device = EncryptedTOTPDevice.objects.get(user=alice.user)
    assert device.verify_token(totp_code(device, steps=1))
    assert {purpose: key_provider().mac(purpose, b"subject-1") for purpose in MAC_PURPOSES} == macs_before
    assert key_provider().signing_public_key() == public_key
    # Checkpoints signed before the migration verify, and so do new ones.
    assert audit_log_verify().ok
    with django_capture_on_commit_callbacks(execute=True):
        assert checkpoint_create() is not None
    assert audit_log_verify().ok
    assert AccessEvent.objects.filter(action="key.migrate").count() == 1


def test_migration_refuses_a_token_holding_other_keys(settings, on_local):
    add_clip()
    call_command("create_master_keys")
    with pytest.raises(CommandError, match="other keys"):
        call_command("migrate_master_keys", "--to", "pkcs11")
    assert Clip.objects.get().key_version == 1
    assert not AccessEvent.objects.filter(action="key.migrate").exists()


def child_env(settings) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        **key_provider_env(settings),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REVIEWSVC_VAR_DIR": str(settings.VAR_DIR),
        "REVIEWSVC_STORAGE": settings.STORAGES["clips"]["OPTIONS"]["location"],
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_rotation_by_another_process_is_seen_at_once_and_orphans_no_clip(settings, on_pkcs11):
    call_command("create_master_keys")
    rotations = 3
    rotator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django, sys; django.setup()\n"
            "from django.core.management import call_command\n"
            f"for _ in range({rotations}): call_command('rotate_master_key')\n",
        ],
        cwd=ROOT,
        env=child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    seen_versions = set()
    deadline = time.monotonic() + 120
    try:
        while rotator.poll() is None and time.monotonic() < deadline:
            clip = ingest_clip(seconds=0.05)
            seen_versions.add(clip.key_version)
    finally:
        output = rotator.communicate(timeout=60)[0].decode()
    assert rotator.returncode == 0, output
    # This process saw the other's rotations as they happened, without being told.
    assert key_provider().current_version() == 1 + rotations
    assert len(seen_versions) > 1
    ingest_clip(seconds=0.05)
    call_command("rotate_master_key")  # re-wraps what was ingested under older versions
    for clip in Clip.objects.all():
        assert b"".join(clip_audio_chunks(clip=clip)), f"clip {clip.id} (version {clip.key_version}) is orphaned"
