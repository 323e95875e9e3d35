"""Sealed access events as a SIEM receives them: JSON lines over HTTPS, or syslog over TCP.

Both carry every hashed field of the event, so a receiver can de-duplicate on ``seq`` and
``hash`` (delivery is at least once) and re-check the chain itself.

JSON lines
    One event per line, keys sorted, no spaces, UTF-8, ``\\n`` after each line. The body is
    signed, when an HMAC key is configured, as ``X-Reviewsvc-Signature: sha256=<hex>`` over the
    exact bytes sent.

Syslog (RFC 5424, framed by octet counting as RFC 6587 §3.4.1 and RFC 5425 describe)
    ``<len> <PRI>1 <time> <host> reviewsvc - <MSGID> [reviewsvc@32473 seq="…" hash="…"
    outcome="…"] <BOM><json line>``, where PRI uses facility 13 ("log audit"), severity 6
    (informational) for granted and 5 (notice) for denied events, and MSGID is the action. The
    framing, not a newline, delimits a message, so a value can never start a second one.
    32473 is the private enterprise number RFC 5612 reserves for examples; ``sd_id`` replaces it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

SIGNATURE_HEADER = "X-Reviewsvc-Signature"
SYSLOG_FACILITY_LOG_AUDIT = 13
SEVERITY_NOTICE = 5
SEVERITY_INFORMATIONAL = 6
DEFAULT_SD_ID = "reviewsvc@32473"
APP_NAME = "reviewsvc"
_MSGID_MAX = 32
_HOSTNAME_MAX = 255
_BOM = b"\xef\xbb\xbf"


def json_line(fields: Mapping[str, Any]) -> bytes:
    """One event as one line: canonical JSON (sorted keys, no spaces) and a newline."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def json_lines(events: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json_line(fields) for fields in events)


def body_signature(key: bytes, body: bytes) -> str:
    """The value of ``X-Reviewsvc-Signature`` for ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _printable_ascii(text: str, limit: int) -> str:
    """RFC 5424 header fields are PRINTUSASCII (33–126); anything else becomes ``_``."""
    cleaned = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in text)[:limit]
    return cleaned or "-"


def _sd_value(text: str) -> str:
    # RFC 5424 §6.3.3: '"', '\' and ']' are escaped inside a PARAM-VALUE.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(fields: Mapping[str, Any], *, hostname: str, sd_id: str = DEFAULT_SD_ID) -> bytes:
    """One event as an RFC 5424 message (without its frame)."""
    severity = SEVERITY_NOTICE if fields["outcome"] == "denied" else SEVERITY_INFORMATIONAL
    pri = SYSLOG_FACILITY_LOG_AUDIT * 8 + severity
    structured = (
        f'[{_printable_ascii(sd_id, _MSGID_MAX)} seq="{fields["seq"]}" hash="{_sd_value(str(fields["hash"]))}" '
        f'outcome="{_sd_value(str(fields["outcome"]))}"]'
    )
    header = (
        f"<{pri}>1 {fields['time']} {_printable_ascii(hostname, _HOSTNAME_MAX)} {APP_NAME} - "
        f"{_printable_ascii(str(fields['action']), _MSGID_MAX)} {structured} "
    )
    return header.encode("ascii") + _BOM + json_line(fields).rstrip(b"\n")


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting frame: the message's length in bytes, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


def syslog_frames(events: Iterable[Mapping[str, Any]], *, hostname: str, sd_id: str = DEFAULT_SD_ID) -> bytes:
    return b"".join(octet_counted(syslog_message(fields, hostname=hostname, sd_id=sd_id)) for fields in events)


def split_octet_counted(stream: bytes) -> tuple[list[bytes], bytes]:
    """Complete messages in ``stream`` and the incomplete rest (what a receiver does)."""
    messages: list[bytes] = []
    while True:
        space = stream.find(b" ")
        if space <= 0:
            return messages, stream
        length = int(stream[:space])
        end = space + 1 + length
        if len(stream) < end:
            return messages, stream
        messages.append(stream[space + 1 : end])
        stream = stream[end:]
