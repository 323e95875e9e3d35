"""On PostgreSQL the events, checkpoints and tree nodes tables refuse UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AccessEvent
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
