"""Checking a log: gapless sequence, hash chain, and every checkpoint's root and signature.

The verifier takes records as ``(seq, body, prev_hash, hash)`` — the body encoded by
``reviewsvc.audit.chain`` from the stored fields — so the same code checks the database (via
apps/audit/selectors.py) and an exported JSONL file (``records_from_jsonl``) with no database.

What each kind of tampering looks like:

- an edited field: the record's hash no longer matches its fields;
- a deleted event in the middle: a gap in ``seq`` (or, renumbered, broken ``prev_hash`` links);
- an inserted event: a duplicate ``seq`` or broken links after it;
- a reordering: hashes cover ``seq`` and the previous hash, so links break;
- deleted events at the tail: the log is shorter than a signed checkpoint says it was;
- a rewritten and re-chained history: its Merkle root differs from a signed checkpoint's;
- an event appended by something holding only database credentials (chain hash computed
  correctly, or the MAC of another event copied in): its MAC does not verify — when the
  verifier is given the MAC function (the key provider's, or an operator's key file).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from reviewsvc.audit import chain
from reviewsvc.audit.checkpoint import AnyCheckpoint, chain_problem, checkpoint_problem
from reviewsvc.audit.merkle import TreeBuilder

# seq, encoded body, prev_hash and hash as 32 raw bytes, and the MAC as raw nonce ‖ tag
# (b"" when the stored text is not hex)
Record = tuple[int, bytes, bytes, bytes, bytes]
_HEX64 = re.compile(r"[0-9a-f]{64}")
# The log stores the hashes of perfect subtrees of 2**8 leaves and more, so a proof reads
# O(log n) nodes and at most one block of 256 event hashes.
STORED_NODE_LEVEL = 8
_HEX_MAC = re.compile(f"[0-9a-f]{{{2 * chain.MAC_SIZE}}}")


def raw_hash(text: str) -> bytes:
    """A stored hash as bytes; anything but 64 lower-case hex digits becomes b"" and fails."""
    return bytes.fromhex(text) if isinstance(text, str) and _HEX64.fullmatch(text) else b""


def raw_mac(text: str) -> bytes:
    """A stored MAC as bytes; anything but 96 lower-case hex digits becomes b"" and fails."""
    return bytes.fromhex(text) if isinstance(text, str) and _HEX_MAC.fullmatch(text) else b""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad: int | None
    problem: str = ""


class ExportFormatError(ValueError):
    pass


def verify_log(
    records: Iterable[Record],
    *,
    checkpoints: Sequence[AnyCheckpoint],
    trusted_key: bytes,
    verify_signature: Callable[[bytes, bytes, bytes], bool],
    complete_series: bool,
    mac: chain.MacFunction | None = None,
) -> VerifyResult:
    """Verify records (in ``seq`` order) against checkpoints signed by ``trusted_key``.

    ``mac``: the event-mac function; without it (an outsider holding only the public key) the
    MACs are not checked, only the chain and the signed checkpoints.

    ``complete_series``: the checkpoints are all there are (from the service), so their own
    chain is checked too; an auditor's handful of checkpoint files need not be consecutive.
    ``first_bad`` is the first event that is wrong or missing; for a bad checkpoint it is the
    first event no valid checkpoint vouches for.
    """
    ordered = sorted(set(checkpoints), key=lambda c: (c.size, c.root, c.text()))
    failure = _checkpoint_failure(ordered, trusted_key, verify_signature, complete_series)
    usable = ordered if failure is None else [c for c in ordered if c.size < failure[0]]
    outcome = _walk(records, usable, mac)
    if failure is not None and (outcome.first_bad is None or failure[0] < outcome.first_bad):
        return VerifyResult(False, outcome.entries, failure[0], failure[1])
    return outcome


def _checkpoint_failure(
    ordered: Sequence[AnyCheckpoint],
    trusted_key: bytes,
    verify_signature: Callable[[bytes, bytes, bytes], bool],
    complete_series: bool,
) -> tuple[int, str] | None:
    vouched = 0  # events covered by the checkpoints found good so far
    broken = chain_problem(ordered) if complete_series else None
    for index, checkpoint in enumerate(ordered):
        if broken is not None and broken[0] == index:
            return vouched + 1, broken[1]
        problem = checkpoint_problem(checkpoint, trusted_key=trusted_key, verify=verify_signature)
        if problem:
            return vouched + 1, problem
        vouched = checkpoint.size
    return None


def _walk(
    records: Iterable[Record], checkpoints: Sequence[AnyCheckpoint], mac: chain.MacFunction | None
) -> VerifyResult:
    tree = TreeBuilder()
    outcome = walk_chain(records, tree=tree, prev_hash=chain.GENESIS, checkpoints=checkpoints, mac=mac)
    if not outcome.ok:
        return outcome
    entries = outcome.entries
    beyond = [c for c in checkpoints if c.size > entries]
    if beyond:
        last = beyond[-1].size
        return VerifyResult(
            False, entries, entries + 1, f"events {entries + 1}..{last} are missing: checkpoint {last} covered them"
        )
    return outcome


def walk_chain(
    records: Iterable[Record],
    *,
    tree: TreeBuilder,
    prev_hash: str,
    checkpoints: Sequence[AnyCheckpoint] = (),
    stop: int | None = None,
    mac: chain.MacFunction | None = None,
    nodes: list[tuple[int, int, bytes]] | None = None,
) -> VerifyResult:
    """Check records continuing ``tree`` (whose last event hash is ``prev_hash``), adding them to it.

    Stops after event ``stop`` if given. Checkpoints within the walked range must match the
    tree's root at their size; ``first_bad`` is as for ``verify_log``. With ``mac``, every
    event's MAC is checked too. With ``nodes``, every perfect subtree of at least
    ``STORED_NODE_LEVEL`` levels completed on the way is appended to it as (level, index, hash).
    """
    sha256 = hashlib.sha256
    prefix = chain.chain_prefix(0, chain.GENESIS)[:2]  # leaf prefix and format version
    pack = struct.Struct(">2sQ32s").pack
    separator, separators = chain.SEPARATOR.encode(), chain.SEPARATORS_PER_BODY
    expected = tree.size + 1
    prev_raw = bytes.fromhex(prev_hash)
    pending = iter(c for c in checkpoints if c.size >= expected)
    next_checkpoint = next(pending, None)
    next_size = next_checkpoint.size if next_checkpoint else 0
    vouched = max((c.size for c in checkpoints if c.size < expected), default=0)
    # TreeBuilder.push, inlined: this loop is the verifier's hot path (see bench/bench_audit.py).
    stack = tree._stack
    compare, mac_version = hmac.compare_digest, chain.MAC_VERSION
    nonce_size, mac_size = chain.MAC_NONCE_SIZE, chain.MAC_SIZE
    for seq, body, record_prev, digest, record_mac in records:
        if stop is not None and seq > stop:
            break
        if seq != expected:
            tree.size = expected - 1
            if seq > expected:
                return VerifyResult(False, expected - 1, expected, f"event {expected} is missing (next is {seq})")
            return VerifyResult(False, expected - 1, expected, f"event {seq} appears again after event {expected - 1}")
        if body.count(separator) != separators:
            tree.size = seq - 1
            return VerifyResult(False, seq - 1, seq, f"event {seq} has a malformed field")
        if record_prev != prev_raw:
            tree.size = seq - 1
            return VerifyResult(False, seq - 1, seq, f"event {seq} does not chain to event {seq - 1}")
        hasher = sha256(pack(prefix, seq, prev_raw))
        hasher.update(body)
        raw = hasher.digest()
        if raw != digest:
            tree.size = seq - 1
            return VerifyResult(False, seq - 1, seq, f"event {seq} does not match its hash (edited)")
        if mac is not None and (
            len(record_mac) != mac_size
            or not compare(mac(mac_version + record_mac[:nonce_size] + body), record_mac[nonce_size:])
        ):
            tree.size = seq - 1
            return VerifyResult(False, seq - 1, seq, f"event {seq} has no valid MAC (not written by the service)")
        node = raw  # the event hash is its Merkle leaf hash
        size, level = seq, 0
        while not size & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            size >>= 1
            level += 1
            if nodes is not None and level >= STORED_NODE_LEVEL:
                nodes.append((level, (seq >> level) - 1, node))
        stack.append(node)
        prev_raw = raw
        expected = seq + 1
        while next_size == seq:
            tree.size = seq
            if next_checkpoint is None or tree.root().hex() != next_checkpoint.root:
                return VerifyResult(
                    False,
                    seq,
                    vouched + 1,
                    f"events {vouched + 1}..{seq} differ from what checkpoint {seq} signed (history rewritten)",
                )
            vouched = seq
            next_checkpoint = next(pending, None)
            next_size = next_checkpoint.size if next_checkpoint else 0
    tree.size = expected - 1
    return VerifyResult(True, expected - 1, None)


def export_row(fields: dict[str, Any]) -> str:
    """One JSONL line carrying every hashed field, as the verifier reads it back."""
    row = {name: fields[name] for name in chain.HASHED_FIELDS}
    row["extra"] = json.loads(row["extra"]) if isinstance(row["extra"], str) else row["extra"]
    return json.dumps(row, ensure_ascii=True, separators=(",", ":"))


def records_from_jsonl(lines: Iterable[str]) -> Iterator[Record]:
    """Records from an export; a malformed line is an error, not something to skip."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or set(row) != set(chain.HASHED_FIELDS):
                raise ExportFormatError(f"line {number}: expected exactly the fields {', '.join(chain.HASHED_FIELDS)}")
            seq = row["seq"]
            if type(seq) is not int:
                raise ExportFormatError(f"line {number}: seq must be an integer")
            body = chain.encode_body(row)
            yield seq, body, raw_hash(row["prev_hash"]), raw_hash(row["hash"]), raw_mac(row["mac"])
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            if isinstance(exc, ExportFormatError):
                raise
            raise ExportFormatError(f"line {number}: {exc}") from None
