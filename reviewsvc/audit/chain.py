"""The canonical, versioned encoding of an access event and the hash chain over it.

Record hash (version 1)::

    hash = SHA-256( 0x00 ‖ 0x01 ‖ u64be(seq) ‖ prev_hash (32 raw bytes) ‖ body )
    body = utf8(field_1) ‖ 0x1F ‖ utf8(field_2) ‖ 0x1F ‖ … ‖ utf8(field_14)

in the order of ``BODY_FIELDS``. Every field is text: ``time`` is the decimal number of
microseconds since 1970-01-01T00:00:00Z (exports show it as ISO 8601, which converts back
exactly; the database renders the integer far faster than a formatted date, which matters to
verification speed); a missing clip or facility id is the empty string (neither can be empty
otherwise); ``extra`` is canonical JSON (sorted keys, no spaces, ASCII only).

0x1F (the ASCII unit separator) cannot occur inside a field: every text the service logs is
cleaned (control characters escaped, apps.common.context.clean_text), canonical JSON escapes
control characters, and the other fields are ids, numbers and times. So the body has exactly
13 separators and splits back into the same 14 fields — the encoding is injective, and a field's
bytes cannot be moved into its neighbour. ``encode_body`` refuses a field holding 0x1F and the
verifier refuses a body without exactly 13. A separator was chosen over length prefixes because
it costs a single ``join`` and lets the database hand the verifier the body in one column: the
verifier must reach a useful fraction of raw SHA-256 speed over a million events.

0x01 is the format version, so a later format can coexist with old records; the first event's
``prev_hash`` is 32 zero bytes. The leading 0x00 is RFC 6962's leaf prefix: an event's hash is
its record's Merkle leaf hash (reviewsvc/audit/merkle.py), so checkpoints need no second hash
per event, and no record can pass for an inner node (those start with 0x01).

The PostgreSQL append function (apps/audit/migrations) hashes the body this module encodes;
selectors.event_records has PostgreSQL build the same body for verification, and the tests
verify every database they run on.

Event MAC (every event, computed when it is recorded, before it has a ``seq``)::

    mac = hex( nonce (16 random bytes) ‖ HMAC-SHA256(event-mac key, 0x01 ‖ nonce ‖ body) )

The key is held by the key provider (purpose ``event-mac``) and never leaves it, so a database
role can insert rows but cannot compute a MAC that verifies: a forged event is found even when
its chain hash was computed correctly. The nonce makes every genuine MAC distinct, and the
column is unique, so a copied row (a replay) cannot be inserted either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

VERSION = 1
GENESIS = "0" * 64
HASH_SIZE = 32

BODY_FIELDS = (
    "time",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "clip_id",
    "subject_pseudonym",
    "facility_id",
    "facility_name",
    "client_address",
    "outcome",
    "reason",
    "request_id",
    "extra",
)
# Everything the hash and the MAC cover, as an export row carries it.
HASHED_FIELDS = ("seq", *BODY_FIELDS, "prev_hash", "hash", "mac")

MAC_PURPOSE = "event-mac"
MAC_VERSION = b"\x01"
MAC_NONCE_SIZE = 16
MAC_SIZE = MAC_NONCE_SIZE + 32
# A MAC function: message -> HMAC-SHA256 tag under the event-mac key (KeyProvider.mac, bound).
MacFunction = Callable[[bytes], bytes]

SEPARATOR = "\x1f"
SEPARATORS_PER_BODY = len(BODY_FIELDS) - 1
_U64 = struct.Struct(">Q")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with six fractional digits: how exports and checkpoints show a time."""
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def time_micros(value: datetime | str) -> int:
    """Microseconds since the epoch, exactly, from a datetime or an export's ISO 8601 text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return (value - _EPOCH) // _MICROSECOND


def canonical_json(value: Any) -> str:
    # allow_nan=False: NaN has no JSON form and would not survive a round trip.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def text_of(name: str, value: Any) -> str:
    """A field's canonical text, from either a model's value or an export's JSON value."""
    if value is None:
        return ""
    if name == "time":
        return str(time_micros(value))
    if name == "extra":
        return value if isinstance(value, str) else canonical_json(value)
    return str(value)


def encode_body(fields: Mapping[str, Any]) -> bytes:
    texts = [text_of(name, fields.get(name)) for name in BODY_FIELDS]
    body = SEPARATOR.join(texts)
    if body.count(SEPARATOR) != SEPARATORS_PER_BODY:
        raise ValueError("an event field contains the separator 0x1F")
    return body.encode("utf-8")


def body_is_well_formed(body: bytes) -> bool:
    return body.count(b"\x1f") == SEPARATORS_PER_BODY


def chain_prefix(seq: int, prev_hash: str) -> bytes:
    """What precedes the body in the hashed bytes: leaf prefix, version, seq, previous hash."""
    return bytes([0, VERSION]) + _U64.pack(seq) + bytes.fromhex(prev_hash)


def record_hash(seq: int, prev_hash: str, body: bytes) -> str:
    if len(prev_hash) != 2 * HASH_SIZE:
        raise ValueError("prev_hash must be 64 hex digits")
    return hashlib.sha256(chain_prefix(seq, prev_hash) + body).hexdigest()


def event_hash(fields: Mapping[str, Any]) -> str:
    """The hash a record with these fields (including ``seq`` and ``prev_hash``) must carry."""
    return record_hash(int(fields["seq"]), str(fields["prev_hash"]), encode_body(fields))


def event_mac(mac: MacFunction, body: bytes) -> str:
    """A fresh MAC for an encoded body: the nonce followed by the tag, hex."""
    nonce = secrets.token_bytes(MAC_NONCE_SIZE)
    return (nonce + mac(MAC_VERSION + nonce + body)).hex()


def mac_verifies(mac: MacFunction, body: bytes, record_mac: bytes) -> bool:
    """Whether ``record_mac`` (raw: nonce ‖ tag) is the event-mac key's MAC over ``body``."""
    if len(record_mac) != MAC_SIZE:
        return False
    nonce, tag = record_mac[:MAC_NONCE_SIZE], record_mac[MAC_NONCE_SIZE:]
    return hmac.compare_digest(mac(MAC_VERSION + nonce + body), tag)
