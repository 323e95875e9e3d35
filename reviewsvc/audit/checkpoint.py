"""Signed checkpoints: the text an outsider checks with the service's Ed25519 public key.

Current format: a C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint) inside a C2SP signed note
(reviewsvc/audit/note.py), signed with Ed25519 under the key name = the origin line::

    <origin, e.g. reviews.example.org/audit-log>
    <tree size, decimal>
    <RFC 6962 root hash of events 1..size, base64>

    — <origin> <base64(key ID ‖ Ed25519 signature over the three lines above)>

Any tlog-checkpoint verifier (e.g. golang.org/x/mod/sumdb/note with the verifier key that
``manage.py audit_public_key`` prints) checks it. Checkpoints are not chained to each other:
the log being append-only is shown by consistency proofs between any two (RFC 6962 2.1.2).

Checkpoints signed before this format are kept and still verified in their own format
(version 1), UTF-8, one ``name value`` per line, in this order::

    reviewsvc-audit-checkpoint v1
    size <events covered, decimal>
    root <RFC 6962 Merkle tree hash of events 1..size, 64 hex>
    prev <SHA-256 of the previous checkpoint's signed text, 64 hex; 64 zeros for the first>
    time <ISO 8601 UTC, e.g. 2026-11-21T23:40:36.123456Z>
    key <Ed25519 public key, 64 hex>
    sig <Ed25519 signature over every line above including its newline, 128 hex>

The signed text is everything before the ``sig`` line. ``prev`` chains checkpoints, so
dropping one from the middle of a series shows. The ``key`` line says which key signed; a
verifier trusts a key it was given out of band, never the one the file names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reviewsvc.audit.note import NoteFormatError, NoteUnverified, NoteVerifier, note_open, note_parse, note_sign

MAGIC = "reviewsvc-audit-checkpoint v1"
GENESIS = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_SIZE = re.compile(r"0|[1-9]\d{0,18}")


class CheckpointFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    prev: str
    time: str
    key: str
    signature: str = ""

    def signed_text(self) -> str:
        return f"{MAGIC}\nsize {self.size}\nroot {self.root}\nprev {self.prev}\ntime {self.time}\nkey {self.key}\n"

    def text(self) -> str:
        return f"{self.signed_text()}sig {self.signature}\n"

    def digest(self) -> str:
        """What the next checkpoint's ``prev`` holds."""
        return hashlib.sha256(self.signed_text().encode("ascii")).hexdigest()


def checkpoint_sign(
    *, size: int, root: str, prev: str, time: str, public_key: bytes, sign: Callable[[bytes], bytes]
) -> Checkpoint:
    unsigned = Checkpoint(size=size, root=root, prev=prev, time=time, key=public_key.hex())
    _check_fields(unsigned)
    signature = sign(unsigned.signed_text().encode("ascii"))
    return Checkpoint(size=size, root=root, prev=prev, time=time, key=unsigned.key, signature=signature.hex())


def _check_fields(checkpoint: Checkpoint) -> None:
    if checkpoint.size < 0:
        raise CheckpointFormatError("size must not be negative")
    if not (_HEX64.fullmatch(checkpoint.root) and _HEX64.fullmatch(checkpoint.prev)):
        raise CheckpointFormatError("root and prev must be 64 lower-case hex digits")
    if not _HEX64.fullmatch(checkpoint.key):
        raise CheckpointFormatError("key must be 64 lower-case hex digits")
    if not _TIME.fullmatch(checkpoint.time):
        raise CheckpointFormatError("time must be ISO 8601 UTC with microseconds")


def parse_checkpoint(text: str) -> Checkpoint:
    """Strict: exactly the seven lines above, nothing else (a lenient parser is a forgery's friend)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    names = ("size", "root", "prev", "time", "key", "sig")
    if len(lines) != 1 + len(names) or lines[0] != MAGIC:
        raise CheckpointFormatError(f"not a {MAGIC!r} checkpoint")
    values: dict[str, str] = {}
    for name, line in zip(names, lines[1:], strict=True):
        prefix = name + " "
        if not line.startswith(prefix):
            raise CheckpointFormatError(f"expected a {name!r} line")
        values[name] = line[len(prefix) :]
    if not _SIZE.fullmatch(values["size"]):
        raise CheckpointFormatError("size must be a decimal number")
    if not _HEX128.fullmatch(values["sig"]):
        raise CheckpointFormatError("sig must be 128 lower-case hex digits")
    checkpoint = Checkpoint(
        size=int(values["size"]),
        root=values["root"],
        prev=values["prev"],
        time=values["time"],
        key=values["key"],
        signature=values["sig"],
    )
    _check_fields(checkpoint)
    return checkpoint


@dataclass(frozen=True)
class TlogCheckpoint:
    """A C2SP tlog-checkpoint, with the signed note exactly as signed (``note``)."""

    origin: str
    size: int
    root: str  # hex, like the version 1 checkpoints
    note: str

    def text(self) -> str:
        return self.note


AnyCheckpoint = Checkpoint | TlogCheckpoint


def tlog_body(origin: str, size: int, root: str) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(root)).decode()}\n"


def tlog_checkpoint_sign(
    *, origin: str, size: int, root: str, public_key: bytes, sign: Callable[[bytes], bytes]
) -> TlogCheckpoint:
    if size < 0 or not _HEX64.fullmatch(root):
        raise CheckpointFormatError("a checkpoint needs a size >= 0 and a 64 hex root")
    try:
        note = note_sign(tlog_body(origin, size, root), verifier=NoteVerifier(origin, public_key), sign=sign)
    except NoteFormatError as exc:
        raise CheckpointFormatError(f"origin {origin!r}: {exc}") from None
    return TlogCheckpoint(origin=origin, size=size, root=root, note=note)


def parse_tlog_checkpoint(text: str) -> TlogCheckpoint:
    """Strict: a well-formed signed note whose text is origin, size and root (no extension lines)."""
    try:
        lines = note_parse(text).text.split("\n")[:-1]
    except NoteFormatError as exc:
        raise CheckpointFormatError(f"not a signed checkpoint: {exc}") from None
    if len(lines) != 3 or not lines[0] or not _SIZE.fullmatch(lines[1]):
        raise CheckpointFormatError("a checkpoint note holds the origin, the tree size and the root hash")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        root = b""
    if len(root) != 32:
        raise CheckpointFormatError("the root hash must be 32 bytes, base64")
    return TlogCheckpoint(origin=lines[0], size=int(lines[1]), root=root.hex(), note=text)


def parse_any_checkpoint(text: str) -> AnyCheckpoint:
    """Either format: version 1 starts with its magic line, everything else must be a note."""
    if text.startswith(MAGIC + "\n"):
        return parse_checkpoint(text)
    return parse_tlog_checkpoint(text)


def checkpoint_problem(
    checkpoint: AnyCheckpoint, *, trusted_key: bytes, verify: Callable[[bytes, bytes, bytes], bool]
) -> str | None:
    """Why this checkpoint's signature cannot be trusted, or None when it holds.

    A note must carry a valid signature by the trusted key under the key name = its origin.
    """
    if isinstance(checkpoint, TlogCheckpoint):
        try:
            note_open(checkpoint.note, verifier=NoteVerifier(checkpoint.origin, trusted_key), verify=verify)
        except (NoteFormatError, NoteUnverified) as exc:
            return f"checkpoint {checkpoint.size} is not signed by the trusted key ({exc})"
        return None
    if checkpoint.key != trusted_key.hex():
        return f"checkpoint {checkpoint.size} is signed by key {checkpoint.key[:16]}…, not the trusted key"
    if not verify(trusted_key, checkpoint.signed_text().encode("ascii"), bytes.fromhex(checkpoint.signature)):
        return f"checkpoint {checkpoint.size} has an invalid signature"
    return None


def chain_problem(checkpoints: Sequence[AnyCheckpoint]) -> tuple[int, str] | None:
    """Checks a complete series, oldest first: sizes grow, and each version 1 checkpoint names
    the version 1 checkpoint before it (notes need no link: consistency proofs replace it).

    Returns (index of the first bad checkpoint, why) or None.
    """
    prev_digest, prev_size = GENESIS, -1
    for index, checkpoint in enumerate(checkpoints):
        if checkpoint.size <= prev_size:
            return index, f"checkpoint {checkpoint.size} does not grow the log past {prev_size}"
        if isinstance(checkpoint, Checkpoint):
            if checkpoint.prev != prev_digest:
                return index, f"checkpoint {checkpoint.size} does not chain to the checkpoint before it"
            prev_digest = checkpoint.digest()
        prev_size = checkpoint.size
    return None
