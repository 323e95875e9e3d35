"""The PostgreSQL backend's health check: no round trip on a live connection, a new connection
when the server ended the old one."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import pytest
from django.db import connections

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
