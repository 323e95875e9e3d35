"""Inclusion proofs: that event ``seq`` is in the log a checkpoint signed.

Text format (version 1)::

    reviewsvc-audit-proof v1
    seq <event sequence number; leaf index = seq - 1>
    hash <the event's hash, 64 hex>
    size <the checkpoint's size>
    root <the checkpoint's root>
    path <sibling hash, 64 hex>      (zero or more lines, leaf level first — RFC 6962 audit path)

Check it with ``proof_problem(text, checkpoint)`` after checking the checkpoint's signature,
or by hand with any RFC 9162 (section 2.1.3.2) implementation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reviewsvc.audit.checkpoint import Checkpoint
from reviewsvc.audit.merkle import verify_inclusion

MAGIC = "reviewsvc-audit-proof v1"
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


def proof_make(*, seq: int, event_hash: str, checkpoint: Checkpoint, path: Sequence[bytes]) -> InclusionProof:
    return InclusionProof(
        seq=seq, hash=event_hash, size=checkpoint.size, root=checkpoint.root, path=tuple(p.hex() for p in path)
    )


def parse_proof(text: str) -> InclusionProof:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 5 or lines[0] != MAGIC:
        raise ProofFormatError(f"not a {MAGIC!r} proof")
    values = {}
    for name, line in zip(("seq", "hash", "size", "root"), lines[1:5], strict=True):
        if not line.startswith(name + " "):
            raise ProofFormatError(f"expected a {name!r} line")
        values[name] = line[len(name) + 1 :]
    path = []
    for line in lines[5:]:
        if not line.startswith("path ") or not _HEX64.fullmatch(line[5:]):
            raise ProofFormatError("expected 'path <64 hex>' lines")
        path.append(line[5:])
    if not (_NUMBER.fullmatch(values["seq"]) and _NUMBER.fullmatch(values["size"])):
        raise ProofFormatError("seq and size must be positive numbers")
    if not (_HEX64.fullmatch(values["hash"]) and _HEX64.fullmatch(values["root"])):
        raise ProofFormatError("hash and root must be 64 lower-case hex digits")
    return InclusionProof(int(values["seq"]), values["hash"], int(values["size"]), values["root"], tuple(path))


def proof_problem(proof: InclusionProof, checkpoint: Checkpoint) -> str | None:
    """Why the proof does not show the event in the checkpoint's log, or None when it does."""
    if proof.size != checkpoint.size or proof.root != checkpoint.root:
        return f"the proof is for a tree of {proof.size} events, not checkpoint {checkpoint.size}"
    path = [bytes.fromhex(node) for node in proof.path]
    if not verify_inclusion(proof.seq - 1, proof.size, bytes.fromhex(proof.hash), path, bytes.fromhex(proof.root)):
        return f"event {proof.seq} is not in the log checkpoint {checkpoint.size} signed"
    return None
