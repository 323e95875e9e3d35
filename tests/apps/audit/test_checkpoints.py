"""Signed checkpoints: Merkle root over all events, chained, stored, and written outside the database."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.audit.models import AccessEvent, Checkpoint
from apps.audit.services import AuditLogBroken, checkpoint_create, checkpoint_sink_write
from apps.audit.tasks import audit_checkpoint_task
from apps.common.keys import key_provider
from reviewsvc.audit.checkpoint import GENESIS, checkpoint_problem, parse_checkpoint
from reviewsvc.audit.merkle import tree_root
from reviewsvc.crypto.keys import verify_signature
from tests.apps.audit.factories import as_superuser_without_triggers, record_events

pytestmark = pytest.mark.django_db

sinks: list[tuple[str, str]] = []


def remember(*, name: str, text: str) -> None:
    sinks.append((name, text))


def stored_root(size: int) -> str:
    hashes = AccessEvent.objects.filter(seq__lte=size).order_by("seq").values_list("hash", flat=True)
    return tree_root(bytes.fromhex(h) for h in hashes).hex()


def test_it_signs_the_merkle_root_of_every_event_so_far(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(5)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    signed = row.as_signed()
    assert (signed.size, signed.root, signed.prev) == (5, stored_root(5), GENESIS)
    assert signed.key == key_provider().signing_public_key().hex()
    assert checkpoint_problem(signed, trusted_key=key_provider().signing_public_key(), verify=verify_signature) is None
    written = (checkpoint_dir / "checkpoint-000000000005.txt").read_text()
    assert parse_checkpoint(written) == signed


def test_each_checkpoint_chains_to_the_one_before_and_covers_only_a_longer_log(django_capture_on_commit_callbacks):
    record_events(3)
    first = checkpoint_create()
    assert checkpoint_create() is None  # nothing new: no second checkpoint of the same size
    record_events(6)
    second = checkpoint_create()
    assert second.size == 9
    assert second.prev == first.as_signed().digest()
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


def test_a_configured_sink_receives_the_checkpoint_text(settings, django_capture_on_commit_callbacks):
    settings.REVIEWSVC_CHECKPOINT_SINK = f"{__name__}.remember"
    sinks.clear()
    record_events(2)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    assert sinks == [("checkpoint-000000000002.txt", row.as_signed().text())]


def test_the_sink_file_is_written_once_and_never_overwritten(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(2)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    path = checkpoint_dir / "checkpoint-000000000002.txt"
    assert path.stat().st_mode & 0o222 == 0
    path.chmod(0o644)
    path.write_text("tampered\n")
    with pytest.raises(FileExistsError):
        checkpoint_sink_write(row.as_signed())
    assert path.read_text() == "tampered\n"


def test_writing_the_same_checkpoint_again_is_a_no_op(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(2)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    checkpoint_sink_write(row.as_signed())  # a retried task
    assert [p.name for p in checkpoint_dir.iterdir()] == ["checkpoint-000000000002.txt"]
    assert parse_checkpoint((checkpoint_dir / "checkpoint-000000000002.txt").read_text()) == row.as_signed()


def test_the_command_prints_the_checkpoint_text(capsys):
    record_events(4)
    call_command("audit_checkpoint")
    out = capsys.readouterr().out
    assert parse_checkpoint(out).size == 4
    call_command("audit_checkpoint")
    assert "no new events" in capsys.readouterr().out


def test_the_beat_task_is_scheduled_every_five_minutes_and_makes_a_checkpoint():
    entry = settings.CELERY_BEAT_SCHEDULE["audit.checkpoint"]
    assert entry == {"task": "audit.checkpoint", "schedule": 300.0}
    assert audit_checkpoint_task.name == "audit.checkpoint"
    record_events(3)
    assert audit_checkpoint_task.delay().get() == 3
    assert Checkpoint.objects.get().size == 3
