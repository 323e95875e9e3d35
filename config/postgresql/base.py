"""Django's PostgreSQL backend, round trips lighter, with prepared key lookups.

**The health check.** Django's check (``CONN_HEALTH_CHECKS``) sends ``SELECT 1`` before the
first query of every request. A server that ends a session (a restart, ``pg_terminate_backend``,
an idle timeout, a proxy or failover closing it) sends its FATAL message and closes the socket,
so the socket reads ready while the connection is idle. Only then is ``SELECT 1`` needed to tell
a dead connection from a stray notice; an idle socket with nothing to read is taken as alive. A
peer gone without closing stalls ``SELECT 1`` until the TCP timeout just as it stalls the
request's own first query, so the stock check finds no more than this one. The check Django
makes after a query failed is left as it is.

**BEGIN.** psycopg sends a transaction's ``BEGIN`` on its own and waits for the answer before
the first statement. The cursor here sends both in one message (``BEGIN; statement`` on the
simple query protocol, which client-side binding already uses) and hands back the statement's
result alone; the transaction starts before the statement runs, as before. Anything else that
starts a transaction (``executemany``, ``stream``, ``copy``, a server-side cursor, binary
results) takes psycopg's own path.

**Prepared key lookups.** ``prepared_cursor()`` gives a cursor whose statements PostgreSQL binds
and keeps prepared on the connection from their first run. PostgreSQL plans the first five runs
for their values; when no plan for given values beats one for any value, as for a lookup by a
primary or unique key, it keeps that generic plan, and the statement is no longer parsed or
planned per request. The six-table session read spends more time being planned than run
(0.34 ms against 0.14 ms by ``EXPLAIN ANALYZE``). Only key lookups belong there
(``apps.common.compiled``, ``prepared=True``): a filter a partial index serves only for one
value (the queue's probe) gains nothing from being prepared. Nothing else is prepared, as
client-side binding never prepares.

**A write sent with the next message.** ``send_with_next(sql, params)`` keeps a statement whose
result nobody reads (the access log's append, the last statement of its transaction) and sends
it in the same message as whatever the connection sends next: the next statement, a savepoint
command, or the ``COMMIT``, where it saves a round trip of its own. The order is kept, so the
statement runs inside its transaction exactly where it was issued; if it fails, the message
stops there, the error is raised by what carried it (the commit, say) and the transaction is
rolled back. A path that cannot carry it (a prepared or binary statement, ``executemany``,
``copy``, a server-side cursor) sends it first, on its own. A rollback, to a savepoint or of
the whole transaction, drops it (it was issued after the last message, so after any savepoint
being rolled back to), and so does closing the connection.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Iterator

from django.db.backends.postgresql import base
from django.db.transaction import TransactionManagementError
from psycopg import pq

_IDLE = pq.TransactionStatus.IDLE


class BeginWithFirstStatementCursor(base.Cursor):
    _folding = False  # inside execute(), where the simple query protocol is used
    _begin: bytes | None = None  # the BEGIN to send with the next statement
    _leading = 0  # the results in hand start with this many: the BEGIN's and the queued writes'
    # The connection's writes waiting for its next message (``DatabaseWrapper.send_with_next``).
    _queued: list[bytes] | None = None

    def _execute_gen(self, query, params=None, *, prepare=None, binary=None) -> Iterator:
        self._folding = not binary and self.format == pq.Format.TEXT
        try:
            yield from super()._execute_gen(query, params, prepare=prepare, binary=binary)
        finally:
            self._folding = False

    def _start_query(self, query=None) -> Iterator:
        self._begin, self._leading = None, 0
        connection = self._conn
        carried = self._folding and not connection._pipeline
        begin_due = not connection._autocommit and connection.pgconn.transaction_status == _IDLE
        if not (carried and begin_due):
            yield from super()._start_query(query)  # psycopg sends the BEGIN here if one is due
            if self._queued and not carried:
                # This message cannot carry them (extended protocol, copy, executemany): they
                # go first, inside the transaction, in one of their own.
                yield from connection._exec_command(b"; ".join(_taken(self._queued)))
            return
        self._begin = connection._get_tx_start_command()
        # The connection's part would send the BEGIN now; it goes with the statement instead.
        connection._autocommit = True
        try:
            yield from super()._start_query(query)
        finally:
            connection._autocommit = False

    def _execute_send(self, query, *, force_extended=False, binary=None) -> None:
        # A pending BEGIN is always sent, never dropped: execute() is the only caller that sets it.
        begin, self._begin = self._begin, None
        leading = [begin] if begin is not None else []
        if self._folding and self._queued:
            leading += _taken(self._queued)
        if not leading:
            super()._execute_send(query, force_extended=force_extended, binary=binary)
            return
        self._query = query
        self._pgconn.send_query(b"; ".join([*leading, query.query]))
        self._leading = len(leading)  # one result each, before the caller's

    def _set_results(self, results) -> None:
        if self._leading:
            results, self._leading = results[self._leading :], 0
        super()._set_results(results)


def _taken(queued: list[bytes]) -> list[bytes]:
    """The queued statements, the queue emptied: each is sent exactly once."""
    taken = list(queued)
    queued.clear()
    return taken


class PreparedCursor(base.ServerBindingCursor):
    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The writes waiting for this connection's next message; every cursor holds this list.
        self._queued: list[bytes] = []

    def send_with_next(self, sql: str, params: list) -> None:
        """Run ``sql`` (its result unread) in this transaction, sent with the next message."""
        if self.get_autocommit():
            raise TransactionManagementError("send_with_next is for a statement inside a transaction")
        self.ensure_connection()
        self._queued.append(self.ops.compose_sql(sql, params).encode(self.connection.info.encoding))

    def create_cursor(self, name=None):
        if name:
            # A server-side cursor's DECLARE cannot carry them.
            self._send_queued()
        cursor = super().create_cursor(name)
        if isinstance(cursor, BeginWithFirstStatementCursor):
            cursor._queued = self._queued
        return cursor

    def _send_queued(self) -> None:
        if self._queued:
            with self.wrap_database_errors:
                self.connection.execute(b"; ".join(_taken(self._queued)))

    def _commit(self):
        if self.connection is not None and self._queued:
            with self.wrap_database_errors, self.create_cursor() as cursor:
                # The queued writes and the COMMIT in one message; psycopg's own commit then
                # finds the transaction ended and sends nothing.
                cursor.execute("COMMIT")
        return super()._commit()

    def _rollback(self):
        self._queued.clear()
        return super()._rollback()

    def _savepoint_rollback(self, sid):
        self._queued.clear()
        return super()._savepoint_rollback(sid)

    def _close(self):
        self._queued.clear()
        return super()._close()

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        if params["cursor_factory"] is base.Cursor:
            params["cursor_factory"] = BeginWithFirstStatementCursor
        if params["prepare_threshold"] is None:
            # Django turns psycopg's preparing off (None); a threshold never reached keeps it off
            # for everything but the prepared cursor, which asks for it.
            params["prepare_threshold"] = sys.maxsize
        return params

    def prepared_cursor(self):
        """A cursor for key lookups: bound by PostgreSQL, prepared once per connection."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        # Its extended-protocol messages cannot carry queued writes: they go first.
        self._send_queued()
        with self.wrap_database_errors:
            return self._prepare_cursor(PreparedCursor(self.connection))

    def close_if_health_check_failed(self) -> None:
        if self.health_check_enabled and not self.health_check_done and self._idle_and_quiet():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _idle_and_quiet(self) -> bool:
        """Open, outside a transaction, and nothing sent by the server since the last answer."""
        connection = self.connection
        if connection is None or connection.closed or connection.info.transaction_status != _IDLE:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
