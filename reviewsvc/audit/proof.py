"""Proofs against signed checkpoints: inclusion (event ``seq`` is in the log a checkpoint signed)
and consistency (the log a checkpoint signed is a prefix of the one a later checkpoint signed).

Text format (version 1)::

    reviewsvc-audit-proof v1
    seq <event sequence number; leaf index = seq - 1>
    hash <the event's hash, 64 hex>
    size <the checkpoint's size>
    root <the checkpoint's root>
    path <sibling hash, 64 hex>      (zero or more lines, leaf level first — RFC 6962 audit path)

Check it with ``proof_problem(text, checkpoint)`` after checking the checkpoint's signature,
or by hand with any RFC 9162 (section 2.1.3.2) implementation.

Consistency proof text (version 1)::

    reviewsvc-audit-consistency v1
    old <the older checkpoint's size>
    old-root <its root, 64 hex>
    new <the newer checkpoint's size>
    new-root <its root, 64 hex>
    path <node, 64 hex>      (zero or more lines — RFC 6962 section 2.1.2 PROOF(old, D[new]))

Check it with ``consistency_problem`` or any RFC 9162 (section 2.1.4.2) implementation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reviewsvc.audit.checkpoint import AnyCheckpoint
from reviewsvc.audit.merkle import verify_consistency, verify_inclusion

MAGIC = "reviewsvc-audit-proof v1"
CONSISTENCY_MAGIC = "reviewsvc-audit-consistency v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[1-9]\d{0,18}")


class ProofFormatError(ValueError):
    pass


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    hash: str
    size: int
    root: str
    path: tuple[str, ...]

    def text(self) -> str:
        lines = [MAGIC, f"seq {self.seq}", f"hash {self.hash}", f"size {self.size}", f"root {self.root}"]
        lines += [f"path {node}" for node in self.path]
        return "\n".join(lines) + "\n"


def proof_make(*, seq: int, event_hash: str, checkpoint: AnyCheckpoint, path: Sequence[bytes]) -> InclusionProof:
    return InclusionProof(
        seq=seq, hash=event_hash, size=checkpoint.size, root=checkpoint.root, path=tuple(p.hex() for p in path)
    )


def _parse_lines(text: str, magic: str, names: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    """A proof's named header lines after its magic line, then its ``path <64 hex>`` lines."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 1 + len(names) or lines[0] != magic:
        raise ProofFormatError(f"not a {magic!r} proof")
    values = {}
    for name, line in zip(names, lines[1 : 1 + len(names)], strict=True):
        if not line.startswith(name + " "):
            raise ProofFormatError(f"expected a {name!r} line")
        values[name] = line[len(name) + 1 :]
    path = []
    for line in lines[1 + len(names) :]:
        if not line.startswith("path ") or not _HEX64.fullmatch(line[5:]):
            raise ProofFormatError("expected 'path <64 hex>' lines")
        path.append(line[5:])
    return values, tuple(path)


def parse_proof(text: str) -> InclusionProof:
    values, path = _parse_lines(text, MAGIC, ("seq", "hash", "size", "root"))
    if not (_NUMBER.fullmatch(values["seq"]) and _NUMBER.fullmatch(values["size"])):
        raise ProofFormatError("seq and size must be positive numbers")
    if not (_HEX64.fullmatch(values["hash"]) and _HEX64.fullmatch(values["root"])):
        raise ProofFormatError("hash and root must be 64 lower-case hex digits")
    return InclusionProof(int(values["seq"]), values["hash"], int(values["size"]), values["root"], path)


def proof_problem(proof: InclusionProof, checkpoint: AnyCheckpoint) -> str | None:
    """Why the proof does not show the event in the checkpoint's log, or None when it does."""
    if proof.size != checkpoint.size or proof.root != checkpoint.root:
        return f"the proof is for a tree of {proof.size} events, not checkpoint {checkpoint.size}"
    path = [bytes.fromhex(node) for node in proof.path]
    if not verify_inclusion(proof.seq - 1, proof.size, bytes.fromhex(proof.hash), path, bytes.fromhex(proof.root)):
        return f"event {proof.seq} is not in the log checkpoint {checkpoint.size} signed"
    return None


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    old_root: str
    new_size: int
    new_root: str
    path: tuple[str, ...]

    def text(self) -> str:
        lines = [
            CONSISTENCY_MAGIC,
            f"old {self.old_size}",
            f"old-root {self.old_root}",
            f"new {self.new_size}",
            f"new-root {self.new_root}",
        ]
        lines += [f"path {node}" for node in self.path]
        return "\n".join(lines) + "\n"


def consistency_make(*, old: AnyCheckpoint, new: AnyCheckpoint, path: Sequence[bytes]) -> ConsistencyProof:
    return ConsistencyProof(old.size, old.root, new.size, new.root, tuple(p.hex() for p in path))


def parse_consistency(text: str) -> ConsistencyProof:
    values, path = _parse_lines(text, CONSISTENCY_MAGIC, ("old", "old-root", "new", "new-root"))
    if not (_NUMBER.fullmatch(values["old"]) and _NUMBER.fullmatch(values["new"])):
        raise ProofFormatError("the sizes must be positive numbers")
    if not (_HEX64.fullmatch(values["old-root"]) and _HEX64.fullmatch(values["new-root"])):
        raise ProofFormatError("the roots must be 64 lower-case hex digits")
    return ConsistencyProof(int(values["old"]), values["old-root"], int(values["new"]), values["new-root"], path)


def consistency_problem(proof: ConsistencyProof, old: AnyCheckpoint, new: AnyCheckpoint) -> str | None:
    """Why the proof does not show ``old``'s log to be a prefix of ``new``'s, or None when it does."""
    if (proof.old_size, proof.old_root, proof.new_size, proof.new_root) != (old.size, old.root, new.size, new.root):
        return f"the proof is not between checkpoints {old.size} and {new.size}"
    path = [bytes.fromhex(node) for node in proof.path]
    if not verify_consistency(old.size, new.size, path, bytes.fromhex(old.root), bytes.fromhex(new.root)):
        return f"checkpoint {old.size}'s log is not a prefix of checkpoint {new.size}'s"
    return None
