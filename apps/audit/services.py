"""Writing access events: the one way into the hash-chained log.

``event_record`` runs inside the caller's ``transaction.atomic`` so an action and its event
commit together or not at all; outside a transaction it raises (fail closed).

- PostgreSQL, ``REVIEWSVC_AUDIT_SEALER`` (the default): one plain INSERT into the pending table,
  no lock. The sealer (apps.audit.sealing) gives committed events their ``seq`` and chain hash
  in batches, off the request path, seconds later at most (docs/AUDIT.md, "Sealing").
- PostgreSQL without the sealer: one call to the ``audit_append`` function (migrations 0005,
  0009). It takes a transaction-scoped advisory lock, reads the head row, hashes with
  PostgreSQL's ``sha256`` and inserts — one round trip; the lock is held until the caller's
  transaction ends, so callers make ``event_record`` the last statement of their atomic block.
  The transaction commits asynchronously (migration 0005), so the lock is not held through the
  WAL flush either; an ``on_commit`` flush barrier makes the caller wait for durability after
  the lock is released.
- SQLite: transactions start with ``BEGIN IMMEDIATE`` (config/settings/base.py), which holds the
  database's write lock for the whole transaction, so reading the head and inserting in Python
  is already serialised.

Python computes the canonical body (reviewsvc.audit.chain) in both cases; the verifier
recomputes every hash in Python, so a mismatch between the two implementations is caught.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.models import AccessEvent, Checkpoint, Outcome, PendingEvent, TreeNode, VerificationRun
from apps.audit.selectors import event_mac_function, event_records, subject_pseudonym
from apps.audit.sinks import checkpoint_file_name, checkpoint_sinks
from apps.common.compiled import execute_unread
from apps.common.context import MAX_LABEL, RequestContext, clean_text
from apps.common.counters import CounterUnavailable, window_count, window_end
from apps.common.keys import key_provider
from apps.common.outbox import outbox_enqueue
from reviewsvc.audit import chain
from reviewsvc.audit import checkpoint as signed
from reviewsvc.audit.merkle import TreeBuilder
from reviewsvc.audit.verify import walk_chain

# Bounds for caller-supplied text: a hostile value is escaped and truncated, never a second line.
MAX_SHORT = 64
MAX_EXTRA_TEXT = 256
MAX_EXTRA_BYTES = 4096
# Another fixed advisory lock: one checkpoint at a time.
CHECKPOINT_LOCK = 0x7265766965770002


LOG_BROKEN_ACTION = "alert.audit_log_broken"


class AuditLogBroken(RuntimeError):
    """The events after the last checkpoint do not verify: nothing gets signed over them."""

    def __init__(self, first_bad: int, problem: str) -> None:
        super().__init__(f"the access log does not verify from event {first_bad} ({problem}); not signing it")
        self.first_bad = first_bad
        self.problem = problem


_APPEND_SQL = (
    "SELECT o_seq, o_prev_hash, o_hash FROM audit_append("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _clean_extra(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value, MAX_EXTRA_TEXT)
    if isinstance(value, dict):
        return {clean_text(str(k), MAX_SHORT): _clean_extra(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_extra(v) for v in value]
    return value


def _normalise_extra(extra: dict | None) -> dict:
    """Cleaned, then round-tripped through JSON so the stored value hashes like the recorded one."""
    cleaned = _clean_extra(extra or {})
    text = chain.canonical_json(cleaned)
    if len(text) > MAX_EXTRA_BYTES:
        # A programming error, not input: bulk operations record a count and a digest instead.
        raise ValueError(f"event extra is {len(text)} bytes, more than {MAX_EXTRA_BYTES}")
    return json.loads(text)


# The facilities app sits above the log, so it hands the log its name lookup when Django starts
# (``FacilitiesConfig.ready``); the log imports nothing of it.
_facility_names: list[Callable[[int], str]] = []


def facility_name_lookup_register(lookup: Callable[[int], str]) -> None:
    """``lookup(facility_id)`` is the facility's current name, or "" for an unknown id."""
    _facility_names[:] = [lookup]


def _facility_name(facility_id: int | None, known: str | None) -> str:
    if facility_id is None:
        return ""
    # A caller that has just read the facility (a reviewer's request) passes its name and spares
    # a query; everyone else has it looked up.
    if known is None:
        known = _facility_names[0](facility_id) if _facility_names else ""
    return clean_text(known, MAX_LABEL)


def _event_fields(
    *,
    action: str,
    context: RequestContext,
    outcome: str,
    reason: str,
    clip_id,
    subject_id: str | None,
    facility_id: int | None,
    facility_name: str | None,
    extra: dict | None,
) -> dict[str, Any]:
    if outcome not in Outcome.values:
        raise ValueError(f"unknown outcome {outcome!r}")
    return {
        # Microseconds: what both databases store, so the stored time hashes like this one.
        "time": timezone.now(),
        "actor_kind": clean_text(context.actor_kind, 16),
        "actor_id": clean_text(context.actor_id, MAX_SHORT),
        "actor_label": clean_text(context.actor_label, MAX_LABEL),
        "action": clean_text(action, MAX_SHORT),
        "clip_id": uuid.UUID(str(clip_id)) if clip_id is not None else None,
        "subject_pseudonym": subject_pseudonym(subject_id) if subject_id else "",
        "facility_id": int(facility_id) if facility_id is not None else None,
        "facility_name": _facility_name(facility_id, facility_name),
        "client_address": clean_text(context.client_address or "", MAX_SHORT),
        "outcome": outcome,
        "reason": clean_text(reason, MAX_SHORT),
        "request_id": clean_text(context.request_id, MAX_SHORT),
        "extra": _normalise_extra(
            {**(extra or {}), "workstation": context.workstation} if context.workstation else extra
        ),
    }


def _append_postgresql(fields: dict[str, Any], body: bytes) -> AccessEvent:
    # Everything is prepared before the append: only the commit should follow it while the lock
    # is held. The barrier runs once the transaction has committed (a rollback drops it).
    event = AccessEvent(seq=0, prev_hash="", hash="", **fields)
    transaction.on_commit(_wait_until_durable)
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                body,
                fields["time"],
                fields["actor_kind"],
                fields["actor_id"],
                fields["actor_label"],
                fields["action"],
                fields["clip_id"],
                fields["subject_pseudonym"],
                fields["facility_id"],
                fields["facility_name"],
                fields["client_address"],
                fields["outcome"],
                fields["reason"],
                fields["request_id"],
                chain.canonical_json(fields["extra"]),
                fields["mac"],
            ],
        )
        event.seq, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias
    return event


def _wait_until_durable() -> None:
    """The flush barrier after an append's asynchronous commit (migration 0005).

    A transaction holding an xid commits synchronously (the default) and so waits until the WAL
    up to its commit record — which follows ours — is on disk; concurrent barriers share one
    flush. Until it returns, the caller has not gone on, so no answer reports an action that a
    crash could still undo.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")


def _append_serialised_by_transaction(fields: dict[str, Any], body: bytes) -> AccessEvent:
    head = AccessEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
    return AccessEvent.objects.create(
        seq=seq, prev_hash=prev_hash, hash=chain.record_hash(seq, prev_hash, body), **fields
    )


_PENDING_COLUMNS = (*chain.BODY_FIELDS, "mac")
_PENDING_SQL = (
    "INSERT INTO audit_pendingevent (time, actor_kind, actor_id, actor_label, action, clip_id, subject_pseudonym, "
    "facility_id, facility_name, client_address, outcome, reason, request_id, extra, mac) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _append_pending(fields: dict[str, Any]) -> PendingEvent:
    """One plain INSERT (no model save machinery in the request path), a plain commit: with no
    lock held there is no reason to defer the flush (migration 0005).

    Nothing reads its result, so the backend sends it with the transaction's next message,
    normally the COMMIT (``execute_unread``, apps.common.compiled): it still runs in the action's
    transaction, in its place, and if it fails the commit fails and the action rolls back. The
    event returned has no id (only the sealer numbers events).
    """
    values = {**fields, "extra": chain.canonical_json(fields["extra"])}
    execute_unread(_PENDING_SQL, [values[name] for name in _PENDING_COLUMNS])
    event = PendingEvent(**fields)
    event._state.adding = False
    event._state.db = connection.alias
    return event


def event_record(
    *,
    action: str,
    context: RequestContext,
    outcome: str = "granted",
    reason: str = "",
    clip_id=None,
    subject_id: str | None = None,
    facility_id: int | None = None,
    facility_name: str | None = None,
    extra: dict | None = None,
) -> AccessEvent | PendingEvent:
    """Append one event in the caller's transaction; make it the block's last statement.

    Returns the sealed event, or on PostgreSQL with the sealer the pending one (no ``seq`` yet).
    ``facility_name``: the name of ``facility_id`` when the caller already holds it; otherwise it
    is looked up.
    """
    if not connection.in_atomic_block:
        # Fail closed: an event outside the action's transaction could be lost while the
        # action commits, or be kept while the action rolls back.
        raise RuntimeError("event_record must run inside transaction.atomic()")
    fields = _event_fields(
        action=action,
        context=context,
        outcome=outcome,
        reason=reason,
        clip_id=clip_id,
        subject_id=subject_id,
        facility_id=facility_id,
        facility_name=facility_name,
        extra=extra,
    )
    body = chain.encode_body(fields)
    fields["mac"] = chain.event_mac(event_mac_function(), body)
    if connection.vendor != "postgresql":
        return _append_serialised_by_transaction(fields, body)
    if settings.REVIEWSVC_AUDIT_SEALER:
        return _append_pending(fields)
    return _append_postgresql(fields, body)


def event_record_denied(
    *,
    action: str,
    context: RequestContext,
    reason: str,
    clip_id=None,
    subject_id: str | None = None,
    facility_id: int | None = None,
    extra: dict | None = None,
) -> AccessEvent | PendingEvent:
    """A refusal's event, in its own transaction: the refusal has nothing else to commit.

    ``durable``: called inside another transaction, the event could be rolled back with it, so
    that raises instead.
    """
    with transaction.atomic(durable=True):
        return event_record(
            action=action,
            context=context,
            outcome=Outcome.DENIED,
            reason=reason,
            clip_id=clip_id,
            subject_id=subject_id,
            facility_id=facility_id,
            extra=extra,
        )


def checkpoint_create() -> Checkpoint | None:
    """Sign a checkpoint over every event committed so far; None when nothing is new.

    Only the events since the previous checkpoint are read: the tree resumes from its stored
    frontier. Those events are verified first, MACs included — a broken chain or an event the
    service did not write is never signed: an alert event names it (once) and this raises —
    and the signed text goes to every sink outside the database once the row has committed.
    """
    try:
        return _checkpoint_create()
    except AuditLogBroken as broken:
        _alert_log_broken(broken)
        raise


def _alert_log_broken(broken: AuditLogBroken) -> None:
    log_broken_alert(extra={"seq": broken.first_bad, "problem": broken.problem}, job="audit.checkpoint")


def log_broken_alert(*, extra: dict, job: str) -> None:
    """One ``alert.audit_log_broken`` denied event naming what is wrong, unless one already does.

    In the caller's transaction if there is one, else in its own; sealed or still pending, a
    copy counts, so repeated attempts do not fill the log with the same alert.
    """
    named = {"action": LOG_BROKEN_ACTION, "extra": extra}
    if AccessEvent.objects.filter(**named).exists() or PendingEvent.objects.filter(**named).exists():
        return
    with transaction.atomic():
        event_record(
            action=LOG_BROKEN_ACTION,
            context=RequestContext.system(job),
            outcome=Outcome.DENIED,
            reason="log_broken",
            extra=extra,
        )


def _checkpoint_create() -> Checkpoint | None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK])
        last = Checkpoint.objects.order_by("-size").first()
        # Sealed events commit in seq order (the sealer, like a serialised append, holds the
        # append lock through its commit), so every seq up to the head read now is committed:
        # the checkpoint covers a gapless prefix.
        head = AccessEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        start = last.size if last else 0
        if head <= start:
            return None
        if last:
            tree = TreeBuilder(last.size, [bytes.fromhex(node) for node in last.frontier.split(",") if node])
            prev_hash = AccessEvent.objects.filter(seq=last.size).values_list("hash", flat=True).first()
            if prev_hash is None:
                raise AuditLogBroken(last.size, f"event {last.size}, the last one checkpointed, is missing")
        else:
            tree, prev_hash = TreeBuilder(), chain.GENESIS
        nodes: list[tuple[int, int, bytes]] = []
        with event_records(start=start + 1) as records:
            outcome = walk_chain(
                records, tree=tree, prev_hash=prev_hash, stop=head, mac=event_mac_function(), nodes=nodes
            )
        if not outcome.ok or tree.size != head:
            raise AuditLogBroken(outcome.first_bad or tree.size + 1, outcome.problem or "events are missing")
        provider = key_provider()
        checkpoint = signed.tlog_checkpoint_sign(
            origin=settings.REVIEWSVC_AUDIT_LOG_ORIGIN,
            size=head,
            root=tree.root().hex(),
            public_key=provider.signing_public_key(),
            sign=provider.sign,
        )
        TreeNode.objects.bulk_create(
            [TreeNode(level=level, index=index, hash=node.hex()) for level, index, node in nodes], batch_size=5000
        )
        row = Checkpoint.objects.create(
            size=checkpoint.size,
            root=checkpoint.root,
            time=timezone.now(),
            note=checkpoint.note,
            frontier=",".join(node.hex() for node in tree.frontier),
        )
        transaction.on_commit(checkpoint_sinks_sync)
    return row


def checkpoint_sinks_sync() -> None:
    """Every checkpoint in the database into every sink that lacks it (never overwriting one).

    Runs after each checkpoint commits, so a sink that was down when one was made gets it on the
    next run. Only adds: a sink's copy the database lacks is left for verification to report.
    """
    stored = {row.size: row.as_signed() for row in Checkpoint.objects.order_by("size")}
    for sink in checkpoint_sinks():
        present = set(sink.names())
        for size, checkpoint in stored.items():
            if checkpoint_file_name(size) not in present:
                sink.write(size=size, text=checkpoint.text())


def verification_start(*, context: RequestContext) -> VerificationRun:
    """Record a verification of the whole log for a worker to run (``apps.audit.verification``)."""
    with transaction.atomic():
        run = VerificationRun.objects.create(
            id=uuid.uuid4(),
            requested_by=context.actor_label,
            total=AccessEvent.objects.aggregate(head=Max("seq"))["head"] or 0,
            created_at=timezone.now(),
        )
        outbox_enqueue(task="audit.verification_run", kwargs={"run_id": str(run.id)})
        event_record(action="audit.verify", context=context, extra={"run": str(run.id), "mode": "background"})
    return run


def event_record_refusal(
    *, action: str, context: RequestContext, reason: str, extra: dict | None = None
) -> AccessEvent | PendingEvent | None:
    """A refused request's denied event, at most REVIEWSVC_REFUSAL_EVENTS_PER_WINDOW per client
    address and ``action`` in each REVIEWSVC_REFUSAL_WINDOW_SECONDS window.

    For refusals anyone can cause at will (a rejected upload, an invalid API key): a flood must not
    fill the log. The first refusal past the cap writes one ``audit.refusals_capped`` event naming
    the action, the address, the cap and the end of the window; the rest of that window writes
    nothing. While the counters' store is down there is no cap. Returns the event written, or None.
    """
    cap = settings.REVIEWSVC_REFUSAL_EVENTS_PER_WINDOW
    window = settings.REVIEWSVC_REFUSAL_WINDOW_SECONDS
    try:
        count = window_count(f"audit:refusals:{action}:{context.client_address or '-'}", window=window)
    except CounterUnavailable:
        # The counters' store is down: every refusal is recorded until it is back, none lost.
        return event_record_denied(action=action, context=context, reason=reason, extra=extra)
    if count <= cap:
        return event_record_denied(action=action, context=context, reason=reason, extra=extra)
    if count == cap + 1:
        until = datetime.fromtimestamp(window_end(window), tz=UTC).isoformat()
        return event_record_denied(
            action="audit.refusals_capped",
            context=context,
            reason="rate_capped",
            extra={"action": action, "cap": cap, "window_seconds": window, "until": until},
        )
    return None
