"""The sealer: gives committed pending events their ``seq`` and chain hash, off the request path.

PostgreSQL only (SQLite appends sealed). ``event_record`` inserts a pending event in the
caller's transaction and takes no lock; here, in batches, one leader

1. reads the oldest committed pending events (``id`` order) with the bodies PostgreSQL builds;
2. checks each MAC with the key provider — a bad one is never chained: it goes to
   ``audit_rejectedevent`` and an ``alert.audit_log_broken`` event names its pending id;
3. calls ``audit_seal`` (migration 0012), which under the append lock reads the head, chains the
   good events in ``id`` order, inserts them into the log and deletes them from the pending
   table — all in this one transaction, so an event is sealed exactly once or stays pending.

No event is skipped, whatever order transactions commit in: the pending table is the queue, and
an event leaves it only by being sealed (or rejected). A lower ``id`` committing after a higher
one was sealed is simply sealed in a later batch, with a later ``seq``.

One leader at a time: the process holding the session advisory lock ``SEALER_LOCK``. PostgreSQL
releases it when the leader's connection ends, however the process died, and the next worker
to try (every interval) leads. Two sealers at once would still be correct — ``audit_seal``
serialises on the append lock and seals only rows still pending — the lock just spares the work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import Error, connection, transaction

from apps.audit.selectors import event_mac_function
from apps.audit.services import log_broken_alert
from reviewsvc.audit import chain

logger = logging.getLogger(__name__)

SEALER_LOCK = 0x7265766965770003

# The body as reviewsvc/audit/chain.py encodes it, built by PostgreSQL from the stored columns:
# the same expression audit_seal hashes, so the MAC is checked over exactly the chained bytes.
_PENDING_SQL = """
SELECT id, convert_to(concat_ws(E'\\x1f',
    (extract(epoch FROM time) * 1000000)::int8::text, actor_kind, actor_id, actor_label,
    action, coalesce(clip_id::text, ''), subject_pseudonym, coalesce(facility_id::text, ''), facility_name,
    client_address, outcome, reason, request_id, extra), 'UTF8'),
    decode(mac, 'hex')
FROM audit_pendingevent ORDER BY id LIMIT %s
"""
_MAC_PROBLEM = "its MAC does not verify"
_REPLAY_PROBLEM = "its MAC is a sealed event's"


def seal_batch(*, limit: int | None = None) -> int:
    """Seal (or reject) up to ``limit`` committed pending events; how many left the pending table."""
    limit = limit or settings.REVIEWSVC_AUDIT_SEAL_BATCH
    mac = event_mac_function()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_PENDING_SQL, [limit])
            rows = cursor.fetchall()
            if not rows:
                return 0
            good, bad = [], []
            for pending_id, body, record_mac in rows:
                (good if chain.mac_verifies(mac, bytes(body), bytes(record_mac)) else bad).append(pending_id)
            cursor.execute("SELECT audit_seal(%s, %s)", [good, bad])
            rejected = {row[0] for row in cursor.fetchall()}
        for pending_id in sorted(rejected):
            problem = _MAC_PROBLEM if pending_id in bad else _REPLAY_PROBLEM
            log_broken_alert(extra={"pending_id": pending_id, "problem": problem}, job="audit.sealer")
    return len(rows)


def seal_pending() -> int:
    """Seal batches until one is not full; how many events left the pending table.

    Everything committed before the call is then sealed. A steady stream of appends is taken in
    one batch per interval, not in a tight loop of tiny transactions (each a commit to flush).
    An alert this raises is itself pending, for the next call.
    """
    limit = settings.REVIEWSVC_AUDIT_SEAL_BATCH
    total = 0
    while True:
        sealed = seal_batch(limit=limit)
        total += sealed
        if sealed < limit:
            return total


def seal_if_leader_free() -> int:
    """One pass, for the beat task: seal everything pending unless another process leads."""
    if not _try_lock():
        return 0
    try:
        return seal_pending()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SEALER_LOCK])


def _try_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEALER_LOCK])
        return bool(cursor.fetchone()[0])


def sealer_run(*, keep_going: Callable[[], bool], on_lead: Callable[[], None] | None = None) -> None:
    """Lead when the lock is free, seal whatever is pending, every interval, while ``keep_going()``.

    A lost database connection loses the lock with it: the loop reconnects and competes again.
    """
    interval = settings.REVIEWSVC_AUDIT_SEAL_INTERVAL_MS / 1000
    leading_on = None  # the connection whose session holds the lock
    while keep_going():
        try:
            if leading_on is None or leading_on is not connection.connection:
                leading_on = connection.connection if _try_lock() else None
                if leading_on is not None and on_lead is not None:
                    on_lead()
            if leading_on is not None:
                seal_pending()
        except Error:
            # Anything else (the key provider failing, say) ends the process: its lock goes with it.
            logger.exception("sealing failed; reconnecting")
            connection.close()
            leading_on = None
        time.sleep(interval)
