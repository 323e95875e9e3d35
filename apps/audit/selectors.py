"""Reading the access log: the auditors' search, exports, and the records the verifier checks."""

from __future__ import annotations

import contextlib
import itertools
import queue
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from apps.audit.models import AccessEvent, TreeNode
from apps.audit.models import Checkpoint as CheckpointRow
from apps.audit.sinks import checkpoint_file_name, checkpoint_sinks
from apps.common.keys import key_provider
from reviewsvc.audit import chain
from reviewsvc.audit.checkpoint import AnyCheckpoint, CheckpointFormatError, parse_any_checkpoint
from reviewsvc.audit.merkle import Subtree, consistency_path, inclusion_path, node_hash, tree_root
from reviewsvc.audit.proof import (
    ConsistencyProof,
    InclusionProof,
    consistency_make,
    consistency_problem,
    proof_make,
    proof_problem,
)
from reviewsvc.audit.verify import STORED_NODE_LEVEL, Record, VerifyResult, raw_hash, raw_mac, verify_log
from reviewsvc.crypto.keys import verify_signature

CHUNK = 5000
PSEUDONYM_PURPOSE = "subject"

# PostgreSQL builds the body (reviewsvc/audit/chain.py) from the stored columns in the query,
# so the verifier receives four columns per event; Python still hashes every byte itself.
_PG_RECORDS_SQL = """
SELECT seq, convert_to(concat_ws(E'\\x1f',
    (extract(epoch FROM time) * 1000000)::int8::text, actor_kind, actor_id, actor_label,
    action, coalesce(clip_id::text, ''), subject_pseudonym, coalesce(facility_id::text, ''), facility_name,
    client_address, outcome, reason, request_id, extra), 'UTF8'),
    decode(prev_hash, 'hex'), decode(hash, 'hex'), decode(mac, 'hex')
FROM audit_accessevent WHERE seq >= %s ORDER BY seq
"""
PREFETCH_BATCHES = 4


def event_mac_function() -> chain.MacFunction:
    """The provider's event-mac HMAC, bound; the key stays inside the provider (or its token)."""
    return key_provider().mac_function(chain.MAC_PURPOSE)


def subject_pseudonym(subject_id: str) -> str:
    """The keyed pseudonym the log stores for a raw subject id (HMAC-SHA256, hex)."""
    return key_provider().mac(PSEUDONYM_PURPOSE, subject_id.encode("utf-8")).hex()


def event_list(
    *,
    clip_id=None,
    subject_id: str | None = None,
    reviewer: str | None = None,
    facility: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = None,
) -> QuerySet[AccessEvent]:
    """Events matching every given filter. ``subject_id`` is a raw id, matched by its pseudonym.

    ``action`` is a name (``clip.audio``) or a family (``clip.*``, ``*``); an unknown name and a
    pattern matching nothing both give no events. ``text`` is found, case-insensitively, in the
    actor's label or the action.
    """
    events = AccessEvent.objects.all()
    if clip_id is not None:
        events = events.filter(clip_id=clip_id)
    if subject_id:
        events = events.filter(subject_pseudonym=subject_pseudonym(subject_id))
    if reviewer:
        events = events.filter(actor_kind="reviewer", actor_label=reviewer)
    if facility:
        events = events.filter(facility_name=facility)
    if action and action != "*":
        events = (
            events.filter(action__startswith=action[:-1]) if action.endswith(".*") else events.filter(action=action)
        )
    if text:
        events = events.filter(Q(actor_label__icontains=text) | Q(action__icontains=text))
    if outcome:
        events = events.filter(outcome=outcome)
    if since is not None:
        events = events.filter(time__gte=since)
    if until is not None:
        events = events.filter(time__lt=until)
    return events


def events_sealed_after(*, seq: int, limit: int = 500) -> list[AccessEvent]:
    """Up to ``limit`` sealed events after ``seq``, in sequence order: what a forwarder (a SIEM
    stream with its own durable cursor) reads next.

    Sealed events commit in ``seq`` order (whoever seals holds the append lock through its
    commit), so a reader that resumes after the last ``seq`` it delivered never skips one that
    commits later. Events still pending are not here: they are read once sealed.
    """
    return list(AccessEvent.objects.filter(seq__gt=seq).order_by("seq")[:limit])


def event_seq_by_mac(mac: str) -> int | None:
    """The sequence number of the sealed event carrying ``mac``; None while it is still pending."""
    return AccessEvent.objects.filter(mac=mac).values_list("seq", flat=True).first()


def export_fields(event: AccessEvent) -> dict:
    """Every hashed field, as an export row carries it (the same texts the hash covers)."""
    return {
        "seq": event.seq,
        "time": chain.format_time(event.time),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "clip_id": str(event.clip_id) if event.clip_id else None,
        "subject_pseudonym": event.subject_pseudonym,
        "facility_id": event.facility_id,
        "facility_name": event.facility_name,
        "client_address": event.client_address,
        "outcome": event.outcome,
        "reason": event.reason,
        "request_id": event.request_id,
        "extra": event.extra,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "mac": event.mac,
    }


class EventRecords:
    """Records in ``seq`` order; ``close()`` (or ``with``) ends the database read at once."""

    def __init__(self, batches: Iterator[Iterable[Record]]) -> None:
        self._batches = batches
        # Batches flattened in C: no Python frame per event on the verifier's hot path.
        self._records = itertools.chain.from_iterable(batches)

    def __iter__(self) -> Iterator[Record]:
        return self._records

    def close(self) -> None:
        self._batches.close()

    def __enter__(self) -> EventRecords:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def event_records(*, start: int = 1) -> EventRecords:
    """Every event from ``start`` on, as the verifier reads them."""
    if connection.vendor == "postgresql":
        return EventRecords(_postgresql_batches(start))
    return EventRecords(_exact_batch(start))


def _exact_batch(start: int) -> Iterator[Iterable[Record]]:
    yield _exact_records(start)


def _exact_records(start: int) -> Iterator[Record]:
    for event in AccessEvent.objects.filter(seq__gte=start).order_by("seq").iterator(chunk_size=CHUNK):
        fields = export_fields(event)
        yield (
            event.seq,
            chain.encode_body(fields),
            raw_hash(event.prev_hash),
            raw_hash(event.hash),
            raw_mac(event.mac),
        )


def _postgresql_batches(start: int) -> Iterator[Iterable[Record]]:
    last = start - 1
    try:
        with contextlib.closing(_postgresql_rows(start)) as batches:
            for rows in batches:
                yield rows
                last = rows[-1][0]
    except _NotHex:
        # A stored hash that is not hex stops PostgreSQL's decode() for its whole batch; from
        # there on the log is read the slow, exact way, where it is simply a mismatch.
        yield _exact_records(last + 1)


class _NotHex(Exception):
    pass


def _postgresql_rows(start: int) -> Iterator[list[Record]]:
    """Batches from a server-side cursor read by a helper thread, so PostgreSQL builds the next
    batch while this thread hashes the current one (the two run on different cores)."""
    connection.ensure_connection()
    with transaction.atomic():
        # Binary results: the body arrives as raw bytes rather than hex text.
        cursor = connection.connection.cursor(name=f"audit_records_{secrets.token_hex(4)}", binary=True)
        cursor.execute(_PG_RECORDS_SQL, [start])
        batches: queue.Queue = queue.Queue(maxsize=PREFETCH_BATCHES)
        stop = threading.Event()

        def hand_over(item) -> None:
            while not stop.is_set():
                try:
                    batches.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def fetch() -> None:
            try:
                while not stop.is_set() and (rows := cursor.fetchmany(CHUNK)):
                    hand_over(rows)
            except psycopg.DataError as exc:
                hand_over(_NotHex(str(exc)))
            except Exception as exc:  # noqa: BLE001 - re-raised in the reading thread
                hand_over(exc)
            hand_over(None)

        reader = threading.Thread(target=fetch, name="audit-records", daemon=True)
        reader.start()
        try:
            while (rows := batches.get()) is not None:
                if isinstance(rows, Exception):
                    raise rows
                yield rows
        finally:
            stop.set()
            reader.join()
            # After an error the transaction is aborted and rolled back on leaving the block;
            # closing the cursor there can only fail the same way.
            with contextlib.suppress(psycopg.Error):
                cursor.close()


def checkpoint_latest() -> AnyCheckpoint | None:
    row = CheckpointRow.objects.order_by("-size").first()
    return row.as_signed() if row else None


def checkpoints_stored() -> list[AnyCheckpoint]:
    return [row.as_signed() for row in CheckpointRow.objects.order_by("size")]


class CheckpointUnreadable(Exception):
    """A file in a sink that is not a checkpoint: itself a finding."""


def checkpoints_by_source() -> dict[str, dict[int, AnyCheckpoint]]:
    """Every checkpoint of every source — the database first, then each sink — by size."""
    sources: dict[str, dict[int, AnyCheckpoint]] = {"database": {c.size: c for c in checkpoints_stored()}}
    for sink in checkpoint_sinks():
        found: dict[int, AnyCheckpoint] = {}
        for name in sink.names():
            try:
                checkpoint = parse_any_checkpoint(sink.read(name))
            except (CheckpointFormatError, UnicodeDecodeError) as exc:
                raise CheckpointUnreadable(f"{name} in sink {sink.name} is not a checkpoint: {exc}") from None
            if checkpoint_file_name(checkpoint.size) != name:
                raise CheckpointUnreadable(f"{name} in sink {sink.name} holds checkpoint {checkpoint.size}")
            found[checkpoint.size] = checkpoint
        sources[f"sink {sink.name}"] = found
    return sources


def audit_log_verify(*, progress: Callable[[int], None] | None = None, progress_every: int = 50_000) -> VerifyResult:
    """The whole log against every checkpoint of every source: the database and each sink.

    A checkpoint missing from any source, or two copies that differ, fails verification naming
    it. The sinks' copies still bind the log when a database superuser deleted events together
    with the checkpoint rows that covered them: the walk finds the events missing.
    """
    try:
        sources = checkpoints_by_source()
    except CheckpointUnreadable as exc:
        return VerifyResult(False, AccessEvent.objects.count(), 1, f"unreadable checkpoint: {exc}")
    union: dict[int, AnyCheckpoint] = {}
    for source in sources.values():
        for size, checkpoint in source.items():
            union.setdefault(size, checkpoint)
    problems: list[tuple[int, str]] = []
    for size in sorted(union):
        vouched = max((s for s in union if s < size), default=0)
        holders = {name for name, source in sources.items() if size in source}
        differing = sorted(name for name in holders if sources[name][size].text() != union[size].text())
        if differing:
            return VerifyResult(
                False,
                AccessEvent.objects.count(),
                vouched + 1,
                f"checkpoint {size} differs between sources ({', '.join(sorted(holders))})",
            )
        if missing := sorted(set(sources) - holders):
            problems.append((vouched + 1, f"checkpoint {size} is missing from {', '.join(missing)}"))
    with event_records() as records:
        result = verify_log(
            records if progress is None else _counted(records, progress, progress_every),
            checkpoints=[union[size] for size in sorted(union)],
            trusted_key=key_provider().signing_public_key(),
            verify_signature=verify_signature,
            complete_series=True,
            mac=event_mac_function(),
        )
    if not problems:
        return result
    listed = "; ".join(problem for _, problem in problems)
    if not result.ok:
        return VerifyResult(False, result.entries, result.first_bad, f"{result.problem}; {listed}")
    return VerifyResult(False, result.entries, problems[0][0], listed)


def _counted(records: Iterable[Record], progress: Callable[[int], None], every: int) -> Iterator[Record]:
    """The records unchanged, calling ``progress(n)`` after every ``every`` of them."""
    for number, record in enumerate(records, 1):
        if number % every == 0:
            progress(number)
        yield record


class NotProvable(Exception):
    pass


class StoredTree:
    """Subtree hashes of the first ``size`` events from the stored nodes and event hashes.

    A perfect subtree of 2**8 leaves or more is one stored node; anything smaller lies inside
    one block of 256 events. ``prefetch`` reads every node and block a proof will need in two
    queries (a proof's shape does not depend on the hashes), so a proof costs two round trips
    and O(log n) rows however large the log.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.block = 1 << STORED_NODE_LEVEL
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._blocks: dict[int, list[bytes]] = {}

    def prefetch(self, make_path: Callable[[Subtree], object], *, leaves: Iterable[int] = ()) -> None:
        """Read what ``make_path(subtree)`` will ask for, and the blocks of ``leaves`` (0-based)."""
        nodes: set[tuple[int, int]] = set()
        blocks: set[int] = {leaf // self.block for leaf in leaves}

        def plan(lo: int, hi: int) -> bytes:
            return self._subtree(lo, hi, lambda at: nodes.add(at) or _PLACEHOLDER, lambda b: blocks.add(b) or [])

        make_path(plan)
        if nodes:
            wanted = Q()
            for level, index in nodes:
                wanted |= Q(level=level, index=index)
            for level, index, digest in TreeNode.objects.filter(wanted).values_list("level", "index", "hash"):
                self._nodes[(level, index)] = raw_hash(digest)
        if blocks:
            ranges = Q()
            for block in blocks:
                ranges |= Q(seq__gte=block * self.block + 1, seq__lte=min((block + 1) * self.block, self.size))
            for block in blocks:
                self._blocks[block] = []
            for seq, digest in AccessEvent.objects.filter(ranges).order_by("seq").values_list("seq", "hash"):
                self._blocks[(seq - 1) // self.block].append(raw_hash(digest))

    def subtree(self, lo: int, hi: int) -> bytes:
        return self._subtree(lo, hi, self._node, self._leaves)

    def leaf(self, index: int) -> bytes:
        return self._leaves(index // self.block)[index % self.block]

    def _subtree(
        self, lo: int, hi: int, node: Callable[[tuple[int, int]], bytes], leaves: Callable[[int], list[bytes]]
    ) -> bytes:
        count = hi - lo
        if count >= self.block and count & (count - 1) == 0 and lo % count == 0:
            return node((count.bit_length() - 1, lo // count))
        if lo // self.block == (hi - 1) // self.block:
            offset = lo % self.block
            return tree_root(leaves(lo // self.block)[offset : offset + count])
        k = 1 << ((count - 1).bit_length() - 1)  # the largest power of two below count
        return node_hash(self._subtree(lo, lo + k, node, leaves), self._subtree(lo + k, hi, node, leaves))

    def _node(self, at: tuple[int, int]) -> bytes:
        stored = self._nodes.get(at, b"")
        if not stored:
            raise NotProvable(f"tree node {at[0]}/{at[1]} is missing: run verify_audit_log")
        return stored

    def _leaves(self, block: int) -> list[bytes]:
        leaves = self._blocks.get(block, [])
        expected = min((block + 1) * self.block, self.size) - block * self.block
        if len(leaves) != expected:
            raise NotProvable(f"events of block {block} are not all stored: run verify_audit_log")
        return leaves


_PLACEHOLDER = bytes(32)


def event_inclusion_proof(*, seq: int, checkpoint: AnyCheckpoint) -> InclusionProof:
    """An RFC 6962 audit path for event ``seq`` in the tree ``checkpoint`` signed, in O(log n) reads.

    The path is checked against the signed root before it is handed out: stored nodes or hashes
    that no longer match the checkpoint give no proof.
    """
    if not 1 <= seq <= checkpoint.size:
        raise NotProvable(f"event {seq} is not covered by checkpoint {checkpoint.size}")
    tree = StoredTree(checkpoint.size)
    tree.prefetch(lambda subtree: inclusion_path(seq - 1, checkpoint.size, subtree), leaves=[seq - 1])
    path = inclusion_path(seq - 1, checkpoint.size, tree.subtree)
    proof = proof_make(seq=seq, event_hash=tree.leaf(seq - 1).hex(), checkpoint=checkpoint, path=path)
    problem = proof_problem(proof, checkpoint)
    if problem:
        raise NotProvable(f"the stored log no longer matches checkpoint {checkpoint.size}: run verify_audit_log")
    return proof


def checkpoint_at(size: int) -> AnyCheckpoint | None:
    row = CheckpointRow.objects.filter(size=size).first()
    return row.as_signed() if row else None


def log_consistency_proof(*, old: AnyCheckpoint, new: AnyCheckpoint) -> ConsistencyProof:
    """An RFC 6962 consistency proof that ``old``'s tree is a prefix of ``new``'s, in O(log n) reads."""
    if not 0 < old.size <= new.size:
        raise NotProvable("a consistency proof needs 0 < old size <= new size")
    tree = StoredTree(new.size)
    tree.prefetch(lambda subtree: consistency_path(old.size, new.size, subtree))
    path = consistency_path(old.size, new.size, tree.subtree)
    proof = consistency_make(old=old, new=new, path=path)
    problem = consistency_problem(proof, old, new)
    if problem:
        raise NotProvable(f"{problem}: run verify_audit_log")
    return proof


@dataclass(frozen=True)
class WorkstationUse:
    """One workstation an actor's requests came from, as the access log records it."""

    name: str
    facility_name: str
    first_seen: datetime
    last_seen: datetime
    events: int


def workstations_used(*, actor_label: str, actor_id: str) -> list[WorkstationUse]:
    """The workstations named in this actor's events, most recently used first."""
    # ``extra`` is the hashed canonical text, not a JSON column: narrowed by text, read in Python.
    rows = (
        AccessEvent.objects.filter(actor_label=actor_label, actor_id=actor_id, extra__contains='"workstation":')
        .values_list("extra", "facility_name", "time")
        .iterator(chunk_size=CHUNK)
    )
    seen: dict[tuple[str, str], WorkstationUse] = {}
    for extra, facility_name, time in rows:
        name = extra.get("workstation")
        if not isinstance(name, str):
            continue
        known = seen.get((name, facility_name))
        seen[(name, facility_name)] = WorkstationUse(
            name=name,
            facility_name=facility_name,
            first_seen=min(time, known.first_seen) if known else time,
            last_seen=max(time, known.last_seen) if known else time,
            events=known.events + 1 if known else 1,
        )
    return sorted(seen.values(), key=lambda use: use.last_seen, reverse=True)
