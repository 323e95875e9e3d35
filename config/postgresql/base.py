"""Django's PostgreSQL backend with a health check that costs no round trip on a live connection.

Django's check (``CONN_HEALTH_CHECKS``) sends ``SELECT 1`` before the first query of every
request: one round trip in every seven to eleven on the reviewer's hot path. A server that ends
a session (a restart, ``pg_terminate_backend``, an idle timeout, a proxy or failover closing it)
sends its FATAL message and closes the socket, so the socket reads ready while the connection is
idle. Only then is ``SELECT 1`` needed to tell a dead connection from a stray notice; an idle
socket with nothing to read is taken as alive. A peer gone without closing stalls ``SELECT 1``
until the TCP timeout just as it stalls the request's own first query, so the stock check finds
no more than this one. The check Django makes after a query failed is left as it is.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if self.health_check_enabled and not self.health_check_done and self._idle_and_quiet():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _idle_and_quiet(self) -> bool:
        """Open, outside a transaction, and nothing sent by the server since the last answer."""
        connection = self.connection
        if connection is None or connection.closed or connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
