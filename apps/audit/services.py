"""Writing access events: the one way into the hash-chained log.

``event_record`` runs inside the caller's ``transaction.atomic`` so an action and its event
commit together or not at all; outside a transaction it raises (fail closed). Appends are
serialised so the chain never forks and ``seq`` has no gaps:

- PostgreSQL: one call to the ``audit_append`` function (installed by migration 0002). It takes
  a transaction-scoped advisory lock, reads the head row, hashes with PostgreSQL's ``sha256``
  and inserts — one round trip. The lock is held until the caller's transaction ends, so
  callers make ``event_record`` the last statement of their atomic block: the lock is then held
  for the append and the commit only, not for the request's other work.
- SQLite: transactions start with ``BEGIN IMMEDIATE`` (config/settings/base.py), which holds the
  database's write lock for the whole transaction, so reading the head and inserting in Python
  is already serialised.

Python computes the canonical body (reviewsvc.audit.chain) in both cases; the verifier
recomputes every hash in Python, so a mismatch between the two implementations is caught.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from django.apps import apps as django_apps
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AccessEvent, Outcome
from apps.common.context import MAX_LABEL, RequestContext, clean_text
from apps.common.keys import key_provider
from reviewsvc.audit import chain

# Bounds for caller-supplied text: a hostile value is escaped and truncated, never a second line.
MAX_SHORT = 64
MAX_EXTRA_TEXT = 256
MAX_EXTRA_BYTES = 4096
PSEUDONYM_PURPOSE = "subject"

_APPEND_SQL = (
    "SELECT o_seq, o_prev_hash, o_hash FROM audit_append("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def subject_pseudonym(subject_id: str) -> str:
    """The keyed pseudonym the log stores for a raw subject id (HMAC-SHA256, hex)."""
    key = key_provider().pseudonym_key(PSEUDONYM_PURPOSE)
    return hmac.new(key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()


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


def _facility_name(facility_id: int | None) -> str:
    if facility_id is None:
        return ""
    try:
        facility = django_apps.get_model("facilities", "Facility")
    except LookupError:
        return ""
    name = facility.objects.filter(pk=facility_id).values_list("name", flat=True).first()
    return clean_text(name or "", MAX_LABEL)


def _event_fields(
    *,
    action: str,
    context: RequestContext,
    outcome: str,
    reason: str,
    clip_id,
    subject_id: str | None,
    facility_id: int | None,
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
        "facility_name": _facility_name(facility_id),
        "client_address": clean_text(context.client_address or "", MAX_SHORT),
        "outcome": outcome,
        "reason": clean_text(reason, MAX_SHORT),
        "request_id": clean_text(context.request_id, MAX_SHORT),
        "extra": _normalise_extra(extra),
    }


def _append_postgresql(fields: dict[str, Any], body: bytes) -> AccessEvent:
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
            ],
        )
        seq, prev_hash, digest = cursor.fetchone()
    event = AccessEvent(seq=seq, prev_hash=prev_hash, hash=digest, **fields)
    event._state.adding = False
    event._state.db = connection.alias
    return event


def _append_serialised_by_transaction(fields: dict[str, Any], body: bytes) -> AccessEvent:
    head = AccessEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
    return AccessEvent.objects.create(
        seq=seq, prev_hash=prev_hash, hash=chain.record_hash(seq, prev_hash, body), **fields
    )


def event_record(
    *,
    action: str,
    context: RequestContext,
    outcome: str = "granted",
    reason: str = "",
    clip_id=None,
    subject_id: str | None = None,
    facility_id: int | None = None,
    extra: dict | None = None,
) -> AccessEvent:
    """Append one event in the caller's transaction; make it the block's last statement."""
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
        extra=extra,
    )
    body = chain.encode_body(fields)
    if connection.vendor == "postgresql":
        return _append_postgresql(fields, body)
    return _append_serialised_by_transaction(fields, body)


def event_record_denied(
    *,
    action: str,
    context: RequestContext,
    reason: str,
    clip_id=None,
    subject_id: str | None = None,
    facility_id: int | None = None,
    extra: dict | None = None,
) -> AccessEvent:
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
