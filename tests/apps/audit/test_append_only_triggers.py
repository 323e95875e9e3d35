"""On PostgreSQL the events, checkpoints and tree nodes tables refuse UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AccessEvent, PendingEvent, RejectedEvent
from apps.audit.services import event_record
from apps.common.context import RequestContext
from tests.conftest import requires_postgres

pytestmark = requires_postgres


@pytest.fixture
def one_event(db) -> AccessEvent:
    with transaction.atomic():
        return event_record(action="clip.audio", context=RequestContext.system("tests"))


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(raised.value)


def test_it_refuses_to_update_an_event(one_event):
    message = _refused("UPDATE audit_accessevent SET action = 'nothing.happened'")
    assert "append-only" in message
    assert AccessEvent.objects.get().action == "clip.audio"


def test_it_refuses_to_update_an_event_through_the_orm(one_event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(seq=one_event.seq).update(reason="edited")


def test_it_refuses_to_delete_an_event(one_event):
    assert "append-only" in _refused("DELETE FROM audit_accessevent")
    assert AccessEvent.objects.count() == 1


def test_it_refuses_to_truncate_the_events(one_event):
    assert "append-only" in _refused("TRUNCATE audit_accessevent")
    assert AccessEvent.objects.count() == 1


def test_it_refuses_to_rewrite_or_drop_checkpoints(one_event):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_checkpoint (size, root, prev, time, key, signature, frontier, note) "
            "VALUES (1, 'r', 'p', now(), 'k', 's', '', '')"
        )
    assert "append-only" in _refused("UPDATE audit_checkpoint SET root = 'x'")
    assert "append-only" in _refused("DELETE FROM audit_checkpoint")
    assert "append-only" in _refused("TRUNCATE audit_checkpoint")


def test_it_refuses_to_rewrite_or_drop_stored_tree_nodes(one_event):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_treenode (level, index, hash) VALUES (8, 0, 'h')")
    assert "append-only" in _refused("UPDATE audit_treenode SET hash = 'x'")
    assert "append-only" in _refused("DELETE FROM audit_treenode")
    assert "append-only" in _refused("TRUNCATE audit_treenode")


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_may_write_events():
    with transaction.atomic():
        event_record(action="clip.audio", context=RequestContext.system("tests"))
    assert AccessEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_suite_flush_empties_the_log_and_leaves_the_triggers_on():
    # Follows a transactional test that wrote an event: the flush got through, the triggers are back.
    assert AccessEvent.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_accessevent'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        triggers = cursor.fetchall()
    assert triggers == [
        ("audit_accessevent_no_truncate", "O"),
        ("audit_accessevent_no_update_delete", "O"),
    ]
    assert "append-only" in _refused("TRUNCATE audit_accessevent")


@pytest.fixture
def pending_event(db, settings):
    settings.REVIEWSVC_AUDIT_SEALER = True
    with transaction.atomic():
        event_record(action="clip.audio", context=RequestContext.system("tests"))
    # The event returned has no id: it is numbered in the table.
    return PendingEvent.objects.get()


@pytest.fixture
def role_with_every_privilege(db) -> Iterator[str]:
    """A role that may write the pending table but does not own it: only the triggers stop it."""
    role = f"rs_test_writer_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT ALL ON audit_pendingevent, audit_rejectedevent TO {role}")
        cursor.execute(f"SET ROLE {role}")
    yield role
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


def test_no_role_but_the_owner_may_edit_or_remove_a_pending_event(pending_event, role_with_every_privilege):
    assert "append-only" in _refused("UPDATE audit_pendingevent SET action = 'nothing.happened'")
    assert "append-only" in _refused("DELETE FROM audit_pendingevent")
    assert "append-only" in _refused("TRUNCATE audit_pendingevent")
    assert PendingEvent.objects.get().action == "clip.audio"


def test_the_owner_may_delete_a_pending_event_but_not_truncate_the_table(pending_event):
    # What audit_seal does with its owner's rights; the owner could drop the triggers anyway.
    assert "append-only" in _refused("TRUNCATE audit_pendingevent")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_pendingevent")
    assert PendingEvent.objects.count() == 0


def test_it_refuses_to_rewrite_or_drop_rejected_events(pending_event, role_with_every_privilege):
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
        cursor.execute("SELECT audit_seal(ARRAY[]::bigint[], ARRAY[%s]::bigint[])", [pending_event.id])
        cursor.execute(f"SET ROLE {role_with_every_privilege}")
    assert RejectedEvent.objects.get().pending_id == pending_event.id
    assert "append-only" in _refused("UPDATE audit_rejectedevent SET action = 'x'")
    assert "append-only" in _refused("DELETE FROM audit_rejectedevent")
    assert "append-only" in _refused("TRUNCATE audit_rejectedevent")
