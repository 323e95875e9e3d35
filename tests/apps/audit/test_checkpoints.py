"""Signed checkpoints: C2SP notes over the Merkle root of all events, stored, and written to every sink."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command

from apps.audit.models import AccessEvent, Checkpoint
from apps.audit.services import AuditLogBroken, checkpoint_create
from apps.audit.sinks import CheckpointSink, SinkConflict, checkpoint_sinks
from apps.audit.tasks import audit_checkpoint_task
from apps.common.keys import key_provider
from reviewsvc.audit.checkpoint import TlogCheckpoint, checkpoint_problem, parse_any_checkpoint
from reviewsvc.audit.merkle import tree_root
from reviewsvc.audit.note import NoteVerifier, note_open
from reviewsvc.crypto.keys import verify_signature
from tests.apps.audit.factories import as_superuser_without_triggers, record_events

pytestmark = pytest.mark.django_db


def stored_root(size: int) -> str:
    hashes = AccessEvent.objects.filter(seq__lte=size).order_by("seq").values_list("hash", flat=True)
    return tree_root(bytes.fromhex(h) for h in hashes).hex()


def test_it_signs_the_merkle_root_of_every_event_so_far(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(5)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    signed = row.as_signed()
    assert isinstance(signed, TlogCheckpoint)
    assert (signed.origin, signed.size, signed.root) == (settings.REVIEWSVC_AUDIT_LOG_ORIGIN, 5, stored_root(5))
    origin, size, root, blank, signature = signed.note.split("\n")[:5]
    assert (origin, size, base64.b64decode(root).hex(), blank) == (signed.origin, "5", stored_root(5), "")
    assert signature.startswith(f"\u2014 {signed.origin} ")
    assert checkpoint_problem(signed, trusted_key=key_provider().signing_public_key(), verify=verify_signature) is None
    verifier = NoteVerifier(signed.origin, key_provider().signing_public_key())
    assert note_open(signed.note, verifier=verifier, verify=verify_signature).text == "\n".join(
        [origin, size, root, ""]
    )
    written = (checkpoint_dir / "checkpoint-000000000005.txt").read_text()
    assert written == signed.note


def test_each_checkpoint_covers_a_longer_log_than_the_one_before(django_capture_on_commit_callbacks):
    record_events(3)
    checkpoint_create()
    assert checkpoint_create() is None  # nothing new: no second checkpoint of the same size
    record_events(6)
    second = checkpoint_create()
    assert second.size == 9
    # Resumed from the stored frontier, the root is still the one over all nine events.
    assert second.root == stored_root(9)


def test_there_is_no_checkpoint_of_an_empty_log():
    assert checkpoint_create() is None
    assert Checkpoint.objects.count() == 0


def test_it_refuses_to_sign_over_an_edited_event():
    record_events(3)
    checkpoint_create()
    record_events(3)
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=5).update(actor_label="mallory")
    with pytest.raises(AuditLogBroken, match="from event 5"):
        checkpoint_create()
    assert list(Checkpoint.objects.values_list("size", flat=True)) == [3]


def test_it_refuses_to_sign_when_the_last_checkpointed_event_is_gone():
    record_events(3)
    checkpoint_create()
    record_events(2)
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=3).delete()
    with pytest.raises(AuditLogBroken, match="event 3"):
        checkpoint_create()


def test_every_configured_storage_receives_every_checkpoint(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.STORAGES = {
        **settings.STORAGES,
        "audit_worm": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "worm")},
        },
    }
    settings.REVIEWSVC_CHECKPOINT_STORAGES = ["audit_worm"]
    record_events(2)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    assert [sink.name for sink in checkpoint_sinks()] == ["folder", "audit_worm"]
    for sink in checkpoint_sinks():
        assert sink.read("checkpoint-000000000002.txt") == row.as_signed().text()


def test_a_sink_that_missed_a_checkpoint_gets_it_with_the_next_one(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(2)
    checkpoint_create()  # its commit callbacks never run: the sink write is lost
    record_events(1)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    assert sorted(p.name for p in checkpoint_dir.iterdir()) == [
        "checkpoint-000000000002.txt",
        "checkpoint-000000000003.txt",
    ]


def test_the_sink_file_is_written_once_and_never_overwritten(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(2)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    path = checkpoint_dir / "checkpoint-000000000002.txt"
    assert path.stat().st_mode & 0o222 == 0
    path.chmod(0o644)
    path.write_text("tampered\n")
    [folder] = [sink for sink in checkpoint_sinks() if sink.name == "folder"]
    with pytest.raises(SinkConflict, match="not overwriting"):
        folder.write(size=2, text=row.as_signed().text())
    assert path.read_text() == "tampered\n"


def test_a_sink_whose_storage_renames_a_file_written_at_the_same_time_reports_it(tmp_path):
    class RacingStorage(FileSystemStorage):
        checked = False

        def exists(self, name: str) -> bool:
            if not self.checked:  # the sink's own check: another writer stores it just after
                self.checked = True
                return False
            return super().exists(name)

    storage = RacingStorage(location=str(tmp_path))
    (tmp_path / "checkpoint-000000000004.txt").write_text("first\n")
    with pytest.raises(SinkConflict, match="stored checkpoint 4 as"):
        CheckpointSink("racing", storage).write(size=4, text="second\n")


def test_the_command_prints_the_checkpoint_text(capsys):
    record_events(4)
    call_command("audit_checkpoint")
    out = capsys.readouterr().out
    assert parse_any_checkpoint(out).size == 4
    call_command("audit_checkpoint")
    assert "no new events" in capsys.readouterr().out


def test_the_beat_task_is_scheduled_every_five_minutes_and_makes_a_checkpoint():
    entry = settings.CELERY_BEAT_SCHEDULE["audit.checkpoint"]
    assert entry == {"task": "audit.checkpoint", "schedule": 300.0}
    assert audit_checkpoint_task.name == "audit.checkpoint"
    record_events(3)
    assert audit_checkpoint_task.delay().get() == 3
    assert Checkpoint.objects.get().size == 3
