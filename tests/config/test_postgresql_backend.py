"""The PostgreSQL backend: a health check with no round trip on a live connection and a new
connection when the server ended the old one; a transaction's BEGIN sent with its first statement;
key lookups prepared once per connection; a write sent with the next message."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import DataError, connections
from django.db.transaction import TransactionManagementError
from psycopg import pq

from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_connection() -> Iterator:
    """A connection of its own, as a web worker holds one between requests."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    assert wrapper.health_check_enabled
    try:
        yield wrapper
    finally:
        wrapper.close()


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request(wrapper) -> None:
    """What Django does when a request starts: the next query runs the health check again."""
    wrapper.close_if_unusable_or_obsolete()
    assert not wrapper.health_check_done


def socket_reads_ready(wrapper, timeout: float = 10.0) -> bool:
    readable, _, _ = select.select([wrapper.connection.fileno()], [], [], timeout)
    return bool(readable)


def test_a_live_connection_is_checked_without_a_query(own_connection, monkeypatch):
    pid = backend_pid(own_connection)
    next_request(own_connection)
    sent = []
    monkeypatch.setattr(own_connection, "is_usable", lambda: sent.append("SELECT 1") or True)

    assert backend_pid(own_connection) == pid
    assert sent == []
    assert own_connection.health_check_done


def test_a_connection_the_server_ended_is_replaced_before_the_next_query(own_connection):
    pid = backend_pid(own_connection)
    next_request(own_connection)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert socket_reads_ready(own_connection), "the server did not close the connection"

    # Without a check this query would fail on the closed connection.
    assert backend_pid(own_connection) != pid


def test_a_notice_on_a_live_connection_falls_back_to_a_query_and_keeps_it(own_connection, monkeypatch):
    with own_connection.cursor() as cursor:
        cursor.execute("LISTEN health_check_probe")
    pid = backend_pid(own_connection)
    next_request(own_connection)
    with connections["default"].cursor() as cursor:
        cursor.execute("NOTIFY health_check_probe")
    deadline = time.monotonic() + 10
    while not socket_reads_ready(own_connection, 0.1):
        assert time.monotonic() < deadline, "the notification never arrived"
    checks = []
    stock_check = own_connection.is_usable
    monkeypatch.setattr(own_connection, "is_usable", lambda: checks.append(stock_check()) or checks[-1])

    assert backend_pid(own_connection) == pid
    assert checks == [True]


def test_inside_a_transaction_the_stock_check_runs(own_connection, monkeypatch):
    own_connection.set_autocommit(False)
    backend_pid(own_connection)
    own_connection.health_check_done = False
    checks = []
    monkeypatch.setattr(own_connection, "is_usable", lambda: checks.append(True) or True)

    backend_pid(own_connection)
    own_connection.rollback()
    own_connection.set_autocommit(True)
    assert checks == [True]


@pytest.fixture
def separate_begins(monkeypatch) -> list[bytes]:
    """Every BEGIN, COMMIT and ROLLBACK psycopg sends as a command of its own, in order."""
    sent: list[bytes] = []
    send = psycopg.Connection._exec_command

    def recorded(connection, command, *args, **kwargs):
        if isinstance(command, bytes) and command.startswith((b"BEGIN", b"COMMIT", b"ROLLBACK")):
            sent.append(command)
        return send(connection, command, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "_exec_command", recorded)
    return sent


def scratch_table(wrapper) -> None:
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE begin_probe (n int)")


def rows_in_scratch_table(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM begin_probe")
        return cursor.fetchone()[0]


def test_a_transaction_begins_with_its_first_statement_in_one_message(own_connection, separate_begins):
    scratch_table(own_connection)
    own_connection.set_autocommit(False)
    with own_connection.cursor() as cursor:
        cursor.execute("INSERT INTO begin_probe VALUES (%s) RETURNING n, txid_current()", [7])
        inserted, transaction_id = cursor.fetchone()
        assert (inserted, cursor.rowcount, cursor.statusmessage) == (7, 1, "INSERT 0 1")
        assert own_connection.connection.info.transaction_status == pq.TransactionStatus.INTRANS
        cursor.execute("SELECT txid_current()")
        assert cursor.fetchone()[0] == transaction_id
    own_connection.rollback()
    own_connection.set_autocommit(True)

    assert separate_begins == [b"ROLLBACK"]
    # The insert ran inside the transaction: the rollback took it back.
    assert rows_in_scratch_table(own_connection) == 0


def test_a_first_statement_that_fails_leaves_its_transaction_aborted(own_connection, separate_begins):
    own_connection.set_autocommit(False)
    with pytest.raises(DataError, match="division by zero"), own_connection.cursor() as cursor:
        cursor.execute("SELECT 1 / %s", [0])
    assert own_connection.connection.info.transaction_status == pq.TransactionStatus.INERROR
    own_connection.rollback()
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT %s", [42])
        assert cursor.fetchone() == (42,)
    own_connection.rollback()
    own_connection.set_autocommit(True)
    assert separate_begins == [b"ROLLBACK", b"ROLLBACK"]


def test_two_statements_in_one_execute_read_as_without_the_begin(own_connection, separate_begins):
    own_connection.set_autocommit(False)
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT 1; SELECT 2")
        assert cursor.fetchone() == (1,)
        assert cursor.nextset()
        assert cursor.fetchone() == (2,)
        assert not cursor.nextset()
    own_connection.rollback()
    own_connection.set_autocommit(True)
    assert separate_begins == [b"ROLLBACK"]


def test_executemany_and_a_server_side_cursor_begin_on_their_own(own_connection, separate_begins):
    scratch_table(own_connection)
    own_connection.set_autocommit(False)
    with own_connection.cursor() as cursor:
        cursor.executemany("INSERT INTO begin_probe VALUES (%s)", [[1], [2]])
    own_connection.rollback()
    with own_connection.connection.cursor(name="begin_probe_rows") as named:
        named.execute("SELECT generate_series(1, 3)")
        assert named.fetchall() == [(1,), (2,), (3,)]
    own_connection.rollback()
    own_connection.set_autocommit(True)

    assert separate_begins == [b"BEGIN", b"ROLLBACK", b"BEGIN", b"ROLLBACK"]
    assert rows_in_scratch_table(own_connection) == 0


def prepared_here(wrapper) -> list[tuple[str, int, int]]:
    """(statement, generic plans, custom plans) of what this connection keeps prepared."""
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY statement")
        return cursor.fetchall()


def test_a_prepared_cursor_prepares_once_and_then_keeps_one_plan_for_every_value(own_connection):
    for value in range(8):
        with own_connection.prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [value])
            assert cursor.fetchone() == (value + 1,)

    # PostgreSQL plans the first five runs for their values, then keeps the generic plan.
    assert prepared_here(own_connection) == [("SELECT $1::int + 1", 3, 5)]


def test_nothing_else_is_prepared_however_often_it_runs(own_connection):
    for value in range(10):
        with own_connection.cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [value])
            assert cursor.fetchone() == (value + 1,)

    assert prepared_here(own_connection) == []


def test_a_prepared_statement_runs_again_after_a_rollback_dropped_it(own_connection):
    own_connection.set_autocommit(False)
    with own_connection.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int * 2", [4])
        assert cursor.fetchone() == (8,)
    own_connection.rollback()  # psycopg forgets its prepared statements here
    with own_connection.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int * 2", [5])
        assert cursor.fetchone() == (10,)
    # Prepared anew, not found missing.
    assert prepared_here(own_connection) == [("SELECT $1::int * 2", 0, 1)]
    own_connection.rollback()
    own_connection.set_autocommit(True)


def order_table(wrapper) -> None:
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE order_probe (position serial, n int)")


def queue(wrapper, n: int) -> None:
    wrapper.send_with_next("INSERT INTO order_probe (n) VALUES (%s)", [n])


def in_order(wrapper) -> list[int]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT n FROM order_probe ORDER BY position")
        return [n for (n,) in cursor.fetchall()]


def test_a_write_sent_with_the_next_message_goes_with_the_commit(own_connection, separate_begins):
    order_table(own_connection)
    own_connection.set_autocommit(False)
    queue(own_connection, 1)
    # Nothing has gone yet: not even the transaction's BEGIN.
    assert own_connection.connection.info.transaction_status == pq.TransactionStatus.IDLE
    own_connection.commit()
    own_connection.set_autocommit(True)

    assert in_order(own_connection) == [1]
    # BEGIN, the insert and COMMIT went as one message: psycopg sent no BEGIN or COMMIT of its own.
    assert separate_begins == []


def test_a_queued_write_runs_before_the_next_statement_which_gets_its_own_result(own_connection):
    order_table(own_connection)
    own_connection.set_autocommit(False)
    queue(own_connection, 1)
    with own_connection.cursor() as cursor:
        cursor.execute("INSERT INTO order_probe (n) VALUES (%s) RETURNING n, (SELECT count(*) FROM order_probe)", [2])
        assert cursor.fetchone() == (2, 1)
        assert (cursor.rowcount, cursor.statusmessage) == (1, "INSERT 0 1")
    assert in_order(own_connection) == [1, 2]
    own_connection.rollback()
    own_connection.set_autocommit(True)
    assert in_order(own_connection) == []


def test_a_queued_write_that_fails_fails_the_commit_and_the_transaction_rolls_back(own_connection):
    order_table(own_connection)
    own_connection.set_autocommit(False)
    with own_connection.cursor() as cursor:
        cursor.execute("INSERT INTO order_probe (n) VALUES (%s)", [1])
    own_connection.send_with_next("INSERT INTO order_probe (n) VALUES (1 / %s)", [0])
    with pytest.raises(DataError, match="division by zero"):
        own_connection.commit()
    own_connection.rollback()
    own_connection.set_autocommit(True)
    assert in_order(own_connection) == []


def test_a_savepoint_released_carries_it_and_one_rolled_back_drops_it_unrun(own_connection):
    order_table(own_connection)
    own_connection.set_autocommit(False)
    kept = own_connection.savepoint()
    queue(own_connection, 1)
    own_connection.savepoint_commit(kept)
    dropped = own_connection.savepoint()
    queue(own_connection, 2)
    # Run, this one would fail the savepoint's rollback: it is dropped without running.
    own_connection.send_with_next("INSERT INTO order_probe (n) VALUES (1 / %s)", [0])
    own_connection.savepoint_rollback(dropped)
    queue(own_connection, 3)
    own_connection.commit()
    own_connection.set_autocommit(True)
    assert in_order(own_connection) == [1, 3]


def test_a_statement_that_cannot_carry_it_sends_it_first(own_connection):
    order_table(own_connection)
    own_connection.set_autocommit(False)
    queue(own_connection, 1)
    with own_connection.cursor() as cursor:
        cursor.executemany("INSERT INTO order_probe (n) VALUES (%s)", [[2], [3]])
    queue(own_connection, 4)
    with own_connection.prepared_cursor() as cursor:
        cursor.execute("INSERT INTO order_probe (n) VALUES (%s)", [5])
    queue(own_connection, 6)
    with own_connection.chunked_cursor() as named:
        named.execute("SELECT max(n) FROM order_probe")
        assert named.fetchone() == (6,)
    own_connection.commit()
    own_connection.set_autocommit(True)
    assert in_order(own_connection) == [1, 2, 3, 4, 5, 6]


def test_a_rollback_or_a_closed_connection_drops_it(own_connection):
    order_table(own_connection)
    own_connection.set_autocommit(False)
    queue(own_connection, 1)
    own_connection.rollback()
    # Not carried into the next transaction by its first statement.
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM order_probe")
        assert cursor.fetchone() == (0,)
    own_connection.commit()
    queue(own_connection, 2)
    own_connection.close()
    # The new session has no order_probe: a queued insert sent now would fail.
    own_connection.ensure_connection()
    own_connection.set_autocommit(False)
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('order_probe')")
        assert cursor.fetchone() == (None,)
    own_connection.commit()
    own_connection.set_autocommit(True)


def test_it_refuses_a_statement_outside_a_transaction(own_connection):
    with pytest.raises(TransactionManagementError):
        queue(own_connection, 1)
