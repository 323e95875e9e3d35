"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures, as golang.org/x/mod/sumdb/note.

A note is a text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID (4 bytes, big-endian) ‖ signature)``. The key ID is
``SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ Ed25519 public key)[:4]``, and a verifier key (vkey) is
``<key name>+<key ID, 8 hex>+base64(0x01 ‖ public key)``: what an outsider is given out of band.

Parsing is strict, as Go's ``note.Open``: valid UTF-8, no control character but newline, every
line after the last blank line a well-formed signature line, at most 100 of them. Signatures by
other keys are ignored (witness cosignatures may be added); at least one by the trusted key must
be present and every one by it must verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

ED25519 = 0x01
MAX_SIGNATURES = 100
_DASH = "\u2014 "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_NAME_FORBIDDEN = re.compile(r"[\s+]")


class NoteFormatError(ValueError):
    """Not a well-formed signed note or verifier key."""


class NoteUnverified(ValueError):
    """No signature by the trusted key, or one by it that does not verify."""


def key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> None:
    if not name or _NAME_FORBIDDEN.search(name):
        raise NoteFormatError("a key name must be non-empty, without spaces or '+'")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise NoteFormatError("not standard base64") from None


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 verifier key: a name and a public key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteFormatError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{base64.b64encode(bytes([ED25519]) + self.public_key).decode()}"


def parse_vkey(text: str) -> NoteVerifier:
    parts = text.strip().split("+", 2)  # the base64 key may itself hold "+"
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise NoteFormatError("a verifier key is <name>+<8 hex>+<base64 key>")
    name, id_hex, key_b64 = parts
    key = _b64decode(key_b64)
    if len(key) != 33 or key[0] != ED25519:
        raise NoteFormatError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
    verifier = NoteVerifier(name, key[1:])
    if verifier.key_id != int(id_hex, 16):
        raise NoteFormatError("the verifier key's ID does not match its name and key")
    return verifier


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        raw = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def signed(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def note_sign(text: str, *, verifier: NoteVerifier, sign: Callable[[bytes], bytes]) -> str:
    """The signed note: ``text`` (ending in a newline, no blank line last) signed by ``sign``."""
    if not text.endswith("\n") or text.endswith("\n\n") or _CONTROL.search(text):
        raise NoteFormatError("a note text ends in one newline and holds no control characters")
    signature = NoteSignature(verifier.name, verifier.key_id, sign(text.encode("utf-8")))
    return Note(text, (signature,)).signed()


def note_parse(raw: str | bytes) -> Note:
    """A note and its signature lines, none verified yet; malformed input raises NoteFormatError."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteFormatError("a note must be UTF-8") from None
    if _CONTROL.search(raw) or not raw.endswith("\n"):
        raise NoteFormatError("malformed note")
    split = raw.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("malformed note: no signatures")
    text, lines = raw[: split + 1], raw[split + 2 :].split("\n")[:-1]
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteFormatError("malformed note: no signatures, or too many")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteFormatError("malformed note: a line after the blank line is not a signature")
        name, space, encoded = line[len(_DASH) :].partition(" ")
        _check_name(name)
        raw_signature = _b64decode(encoded) if space else b""
        if len(raw_signature) < 5:
            raise NoteFormatError("malformed note: a signature is too short")
        signatures.append(NoteSignature(name, int.from_bytes(raw_signature[:4], "big"), raw_signature[4:]))
    return Note(text, tuple(signatures))


def note_open(raw: str | bytes, *, verifier: NoteVerifier, verify: Callable[[bytes, bytes, bytes], bool]) -> Note:
    """The note, once a signature by ``verifier`` verifies; any signature by it that fails rejects it."""
    note = note_parse(raw)
    ours = [s for s in note.signatures if s.name == verifier.name and s.key_id == verifier.key_id]
    if not ours:
        raise NoteUnverified(f"no signature by {verifier.name}+{verifier.key_id:08x}")
    message = note.text.encode("utf-8")
    for signature in ours:
        if not verify(verifier.public_key, message, signature.signature):
            raise NoteUnverified(f"invalid signature for key {verifier.name}+{verifier.key_id:08x}")
    return note
