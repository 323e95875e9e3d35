"""The canonical, versioned encoding of an access event and the hash chain over it.

Record hash (version 1)::

    hash = SHA-256( 0x01 ‖ u64be(seq) ‖ prev_hash (32 raw bytes) ‖ body )
    body = field_1 ‖ field_2 ‖ … ‖ field_14,   field = u32be(len(utf8)) ‖ utf8

in the order of ``BODY_FIELDS``. Every field is text: ``time`` is ISO 8601 UTC with exactly six
fractional digits and a ``Z``; a missing clip or facility id is the empty string (neither can be
empty otherwise); ``extra`` is canonical JSON (sorted keys, no spaces, ASCII only). Length
prefixes make the encoding injective — no two different events share a body — so a field's
bytes cannot be shifted into its neighbour. The version byte lets a later format coexist with
old records; the first event's ``prev_hash`` is 32 zero bytes.

The PostgreSQL append function (apps/audit/migrations) computes the same hash in SQL from the
body this module encodes, so this file and that function are the format's two implementations.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
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
# Everything the hash covers, as an export row carries it.
HASHED_FIELDS = ("seq", *BODY_FIELDS, "prev_hash", "hash")

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    # allow_nan=False: NaN has no JSON form and would not survive a round trip.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def text_of(name: str, value: Any) -> str:
    """A field's canonical text, from either a model's value or an export's JSON value."""
    if value is None:
        return ""
    if name == "time" and isinstance(value, datetime):
        return format_time(value)
    if name == "extra":
        return value if isinstance(value, str) else canonical_json(value)
    return str(value)


def encode_body(fields: Mapping[str, Any]) -> bytes:
    parts = []
    for name in BODY_FIELDS:
        raw = text_of(name, fields.get(name)).encode("utf-8")
        parts.append(_U32.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def chain_prefix(seq: int, prev_hash: str) -> bytes:
    return bytes([VERSION]) + _U64.pack(seq) + bytes.fromhex(prev_hash)


def record_hash(seq: int, prev_hash: str, body: bytes) -> str:
    if len(prev_hash) != 2 * HASH_SIZE:
        raise ValueError("prev_hash must be 64 hex digits")
    return hashlib.sha256(chain_prefix(seq, prev_hash) + body).hexdigest()


def event_hash(fields: Mapping[str, Any]) -> str:
    """The hash a record with these fields (including ``seq`` and ``prev_hash``) must carry."""
    return record_hash(int(fields["seq"]), str(fields["prev_hash"]), encode_body(fields))
