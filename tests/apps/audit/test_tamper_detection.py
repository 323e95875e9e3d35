"""verify_audit_log finds each kind of tampering a database superuser could do, and names the first bad event.

On SQLite rows are edited directly; on PostgreSQL the append-only triggers are switched off first,
as only a superuser or the tables' owner could.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from pathlib import Path

import pytest
from django.db import transaction

from apps.audit.models import AccessEvent, Checkpoint
from apps.audit.selectors import audit_log_verify, export_fields
from apps.audit.services import checkpoint_create, event_record
from apps.common.keys import key_provider
from reviewsvc.audit import chain
from reviewsvc.audit.verify import export_row
from tests.apps.audit.factories import REVIEWER, as_superuser_without_triggers, record_events, verify_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(django_capture_on_commit_callbacks):
    """Twelve events, a checkpoint after eight and one after twelve, both also in the sink folder."""
    record_events(8)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    record_events(4)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()


def test_an_intact_log_verifies(log):
    assert verify_command() == (0, "ok: 12 events, chain and checkpoints intact\n")
    assert audit_log_verify().ok


def test_it_finds_an_edited_field(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=6).update(actor_label="someone-else")
    code, out = verify_command()
    assert code == 1
    assert "first bad event 6" in out
    assert "edited" in out


def test_it_finds_an_event_deleted_in_the_middle(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=5).delete()
    code, out = verify_command()
    assert (code, "first bad event 5" in out) == (1, True)


def test_it_finds_events_deleted_at_the_tail_up_to_the_last_checkpoint(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq__gte=10).delete()
    code, out = verify_command()
    assert code == 1
    assert "first bad event 10" in out
    assert "events 10..12 are missing" in out


def test_it_finds_a_deleted_tail_even_when_the_checkpoint_row_went_with_it(log):
    # The copy in the folder outside the database still binds the log to twelve events.
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq__gte=10).delete()
        Checkpoint.objects.filter(size=12).delete()
    code, out = verify_command()
    assert (code, "first bad event 10" in out) == (1, True)


def test_it_finds_an_inserted_event(log):
    with as_superuser_without_triggers():
        for seq in range(12, 5, -1):
            AccessEvent.objects.filter(seq=seq).update(seq=seq + 1)
        fields = export_fields(AccessEvent.objects.get(seq=5)) | {"seq": 6, "action": "clip.next"}
        fields["prev_hash"] = AccessEvent.objects.get(seq=5).hash
        fields["hash"] = chain.event_hash(fields)
        # A superuser has no MAC key either: the inserted event carries a made-up MAC.
        fields["mac"] = secrets.token_hex(chain.MAC_SIZE)
        AccessEvent.objects.create(**{**fields, "time": AccessEvent.objects.get(seq=5).time})
    code, out = verify_command()
    assert (code, "first bad event 6" in out, "no valid MAC" in out) == (1, True, True)


def test_it_finds_a_reordering(log):
    fourth, fifth = AccessEvent.objects.get(seq=4), AccessEvent.objects.get(seq=5)
    movable = [f.name for f in AccessEvent._meta.fields if f.name != "seq"]
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=4).update(hash=f"moving-{uuid.uuid4().hex[:50]}", mac="moving")
        AccessEvent.objects.filter(seq=5).update(**{name: getattr(fourth, name) for name in movable})
        AccessEvent.objects.filter(seq=4).update(**{name: getattr(fifth, name) for name in movable})
    code, out = verify_command()
    assert (code, "first bad event 4" in out) == (1, True)


def test_it_finds_a_history_rewritten_with_a_recomputed_chain(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=10).update(reason="rewritten")
        prev = AccessEvent.objects.get(seq=9).hash
        for event in AccessEvent.objects.filter(seq__gte=10).order_by("seq"):
            fields = export_fields(event) | {"prev_hash": prev}
            prev = chain.event_hash(fields)
            AccessEvent.objects.filter(seq=event.seq).update(prev_hash=fields["prev_hash"], hash=prev)
    code, out = verify_command()
    # The MAC catches the edit itself (the export check without the MAC key finds the
    # rewritten stretch by its checkpoint: tests/reviewsvc/audit/test_verify_export.py).
    assert code == 1
    assert "first bad event 10" in out
    assert "no valid MAC" in out


def test_it_finds_a_forged_checkpoint_row(log):
    note = Checkpoint.objects.get(size=12).note
    origin, size, _root, *rest = note.split("\n")
    forged = "\n".join([origin, size, base64.b64encode(bytes(32)).decode(), *rest])
    with as_superuser_without_triggers():
        Checkpoint.objects.filter(size=12).update(root="00" * 32, note=forged)
    code, out = verify_command()
    assert code == 1
    assert "first bad event 9" in out
    assert "checkpoint 12 differs between sources" in out


def test_a_forged_checkpoint_in_every_source_fails_its_signature(log, checkpoint_dir):
    path = checkpoint_dir / "checkpoint-000000000012.txt"
    origin, size, _root, *rest = path.read_text().split("\n")
    forged = "\n".join([origin, size, base64.b64encode(bytes(32)).decode(), *rest])
    path.chmod(0o644)
    path.write_text(forged)
    with as_superuser_without_triggers():
        Checkpoint.objects.filter(size=12).update(note=forged)
    code, out = verify_command()
    assert (code, "first bad event 9" in out, "not signed by the trusted key" in out) == (1, True, True)


def test_the_api_and_the_command_agree(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=3).update(outcome="denied")
    result = audit_log_verify()
    assert (result.ok, result.entries, result.first_bad) == (False, 2, 3)


def test_usage_errors_exit_2(log, tmp_path):
    assert verify_command("--export", str(tmp_path / "x.jsonl"))[0] == 2
    assert verify_command("--checkpoint", str(tmp_path / "c.txt"))[0] == 2
    assert verify_command("--export", str(tmp_path / "x.jsonl"), "--checkpoint", str(tmp_path / "c.txt"))[0] == 2


@pytest.fixture
def exported(log, tmp_path, checkpoint_dir) -> tuple[Path, Path]:
    export = tmp_path / "events.jsonl"
    export.write_text(
        "".join(export_row(export_fields(e)) + "\n" for e in AccessEvent.objects.order_by("seq")), encoding="utf-8"
    )
    return export, checkpoint_dir / "checkpoint-000000000012.txt"


def test_an_export_verifies_with_no_database_at_all(exported, django_db_blocker):
    export, checkpoint = exported
    key = key_provider().signing_public_key().hex()
    with django_db_blocker.block():
        code, out = verify_command("--export", str(export), "--checkpoint", str(checkpoint), "--public-key", key)
        own_key_code, _ = verify_command("--export", str(export), "--checkpoint", str(checkpoint))
    assert (code, own_key_code) == (0, 0)
    assert "ok: 12 events" in out


def test_an_edited_export_fails_with_no_database(exported, django_db_blocker):
    export, checkpoint = exported
    lines = export.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace('"outcome":"granted"', '"outcome":"denied"')
    export.write_text("".join(lines))
    with django_db_blocker.block():
        code, out = verify_command("--export", str(export), "--checkpoint", str(checkpoint))
    assert (code, "first bad event 7" in out) == (1, True)


def test_an_export_cut_short_fails_against_the_checkpoint(exported, django_db_blocker):
    export, checkpoint = exported
    export.write_text("".join(export.read_text().splitlines(keepends=True)[:10]))
    with django_db_blocker.block():
        code, out = verify_command("--export", str(export), "--checkpoint", str(checkpoint))
    assert (code, "first bad event 11" in out) == (1, True)


def test_events_appended_after_the_last_checkpoint_verify_by_their_chain(log):
    with transaction.atomic():
        event_record(action="clip.audio", context=REVIEWER)
    assert verify_command()[0] == 0


def test_a_stored_hash_that_is_not_hex_is_a_finding_not_a_crash(log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=4).update(hash="zz" * 32)
        AccessEvent.objects.filter(seq=7).update(prev_hash="AB" * 32)
    code, out = verify_command()
    assert (code, "first bad event 4" in out) == (1, True)


def test_an_unreadable_checkpoint_file_in_the_sink_folder_is_itself_a_finding(log, checkpoint_dir):
    (checkpoint_dir / "checkpoint-000000000099.txt").write_text("reviewsvc-audit-checkpoint v1\nsize 99\n")
    result = audit_log_verify()
    assert (result.ok, result.entries, result.first_bad) == (False, 12, 1)
    assert result.problem == (
        "unreadable checkpoint: checkpoint-000000000099.txt in sink folder is not a checkpoint: "
        "not a 'reviewsvc-audit-checkpoint v1' checkpoint"
    )
