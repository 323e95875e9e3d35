"""Verification reads every checkpoint source: the database, the folder and each configured storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.audit.models import AccessEvent, Checkpoint
from apps.audit.selectors import audit_log_verify
from apps.audit.services import checkpoint_create
from tests.apps.audit.factories import as_superuser_without_triggers, record_events, verify_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(settings, tmp_path) -> Path:
    """A storage-backed sink (what an S3 object-lock bucket is through django-storages), and no folder."""
    location = tmp_path / "bucket"
    settings.STORAGES = {
        **settings.STORAGES,
        "audit_bucket": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    settings.REVIEWSVC_CHECKPOINT_STORAGES = ["audit_bucket"]
    settings.REVIEWSVC_CHECKPOINT_DIR = ""
    return location


@pytest.fixture
def log(bucket, django_capture_on_commit_callbacks):
    record_events(8)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    record_events(4)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    return bucket


def test_a_log_whose_checkpoints_are_in_every_source_verifies(log):
    assert verify_command() == (0, "ok: 12 events, chain and checkpoints intact\n")


def test_events_and_their_checkpoint_row_deleted_by_the_table_owner_are_found_from_the_storage(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq__gte=9).delete()
        Checkpoint.objects.filter(size=12).delete()
    code, out = verify_command()
    assert code == 1
    assert "first bad event 9" in out
    assert "events 9..12 are missing: checkpoint 12 covered them" in out
    assert "checkpoint 12 is missing from database" in out


def test_a_checkpoint_row_deleted_alone_is_named_missing_from_the_database(log):
    with as_superuser_without_triggers():
        Checkpoint.objects.filter(size=8).delete()
    result = audit_log_verify()
    assert (result.ok, result.first_bad, result.problem) == (False, 1, "checkpoint 8 is missing from database")


def test_a_checkpoint_missing_from_a_storage_is_named(log):
    (log / "checkpoint-000000000012.txt").unlink()
    result = audit_log_verify()
    assert (result.ok, result.first_bad, result.problem) == (
        False,
        9,
        "checkpoint 12 is missing from sink audit_bucket",
    )


def test_a_storage_copy_that_differs_from_the_row_is_named(log):
    path = log / "checkpoint-000000000008.txt"
    other = (log / "checkpoint-000000000012.txt").read_text()
    path.chmod(0o644)
    path.write_text(other.replace("\n12\n", "\n8\n"))
    result = audit_log_verify()
    assert (result.ok, result.first_bad) == (False, 1)
    assert result.problem == "checkpoint 8 differs between sources (database, sink audit_bucket)"


def test_a_file_in_a_storage_that_is_not_a_checkpoint_is_a_finding(log):
    (log / "checkpoint-000000000020.txt").write_text("not a checkpoint\n")
    result = audit_log_verify()
    assert (result.ok, result.first_bad) == (False, 1)
    assert "checkpoint-000000000020.txt in sink audit_bucket is not a checkpoint" in result.problem


def test_a_checkpoint_filed_under_another_size_is_a_finding(log):
    (log / "checkpoint-000000000013.txt").write_text((log / "checkpoint-000000000012.txt").read_text())
    result = audit_log_verify()
    assert (result.ok, result.first_bad) == (False, 1)
    assert "holds checkpoint 12" in result.problem


def test_the_api_fails_from_the_storage_too(log, auditor_client):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq__gte=9).delete()
        Checkpoint.objects.filter(size=12).delete()
    assert auditor_client.get("/api/v1/audit/verify").json() == {"ok": False, "entries": 8, "first_bad": 9}
