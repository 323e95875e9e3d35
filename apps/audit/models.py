"""The access log: one hash-chained, append-only row per access or refused attempt.

On PostgreSQL an event is first a ``PendingEvent`` (committed with its access, not yet chained)
until the sealer moves it into ``AccessEvent`` (apps/audit/sealing.py).

Nothing here is a foreign key: events outlive the clips, accounts and facilities they name.
The subject is stored only as a keyed pseudonym. See reviewsvc/audit/chain.py for the hash and
docs/AUDIT.md for the whole design.
"""

from __future__ import annotations

import json

from django.db import models

from reviewsvc.audit import chain
from reviewsvc.audit import checkpoint as signed
from reviewsvc.audit.chain import canonical_json, format_time


class CanonicalJSONField(models.TextField):
    """JSON kept as the exact canonical text the event's hash covers.

    A ``jsonb`` column would re-format the text (key order, spacing), so the verifier would
    have to parse and re-serialise every row; here it reads the hashed bytes as stored.
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        return json.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        return None if value is None else canonical_json(value)

    def value_to_string(self, obj) -> str:
        return canonical_json(self.value_from_object(obj))


class Outcome(models.TextChoices):
    GRANTED = "granted"
    DENIED = "denied"


class EventBody(models.Model):
    """The fourteen fields an event's hash and MAC cover (reviewsvc.audit.chain.BODY_FIELDS)."""

    time = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    clip_id = models.UUIDField(null=True, blank=True)
    subject_pseudonym = models.CharField(max_length=64, blank=True)
    facility_id = models.IntegerField(null=True, blank=True)
    facility_name = models.CharField(max_length=150, blank=True)
    client_address = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    extra = CanonicalJSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class AccessEvent(EventBody):
    # Gapless: assigned by the sealer (or under the append lock), never from a sequence (which
    # would leave holes).
    seq = models.BigIntegerField(primary_key=True)
    prev_hash = models.CharField(max_length=64)
    # Not indexed: nothing looks an event up by its hash, and every index on this table is
    # maintained by whoever holds the append lock (verification catches a duplicate or forked chain).
    hash = models.CharField(max_length=64)
    # nonce ‖ HMAC-SHA256 under the provider's event-mac key (reviewsvc/audit/chain.py): what a
    # role holding only database credentials cannot compute. Unique: a copied row is refused.
    # (Only the unique index: migration 0014 drops the LIKE-pattern one PostgreSQL would add.)
    mac = models.CharField(max_length=2 * chain.MAC_SIZE, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # The auditors' filters, each newest first (outcome alone is too unselective to pay
            # for an index that every append maintains inside the lock).
            models.Index(fields=["clip_id", "seq"], name="audit_event_clip"),
            models.Index(fields=["subject_pseudonym", "seq"], name="audit_event_subject"),
            models.Index(fields=["actor_label", "seq"], name="audit_event_actor"),
            models.Index(fields=["facility_name", "seq"], name="audit_event_facility"),
            # Pattern operators (PostgreSQL) so a family of actions (``alert.*``, ``clip.*``) is a
            # range scan of this index too, not a scan of the table; equality works as before.
            models.Index(
                fields=["action", "seq"], name="audit_event_action", opclasses=["varchar_pattern_ops", "int8_ops"]
            ),
            models.Index(fields=["time"], name="audit_event_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"


class PendingEvent(EventBody):
    """An event committed with the access it records, not yet sequenced and chained (PostgreSQL).

    ``event_record`` inserts it in the caller's transaction, without any lock; the sealer
    (apps.audit.sealing) checks its MAC, moves it into ``AccessEvent`` with the next ``seq``
    and deletes it here, in one transaction. The application may only read and insert these
    rows: the move is the ``audit_seal`` function, run with its owner's rights (migration 0012).
    """

    id = models.BigAutoField(primary_key=True)
    # Not unique here (an index the request path would maintain): audit_seal sets aside a
    # second copy of any MAC, and the log's own MAC column is unique.
    mac = models.CharField(max_length=2 * chain.MAC_SIZE)
    # No sequence number until sealed: callers holding either kind of event read ``seq`` alike.
    seq = None

    def __str__(self) -> str:
        return f"pending {self.id} {self.action} {self.outcome}"


class RejectedEvent(EventBody):
    """A pending event whose MAC did not verify: kept out of the chain, kept for the auditors.

    The sealer moves it here (never into the log) and records an ``alert.audit_log_broken``
    event naming ``pending_id``, so a forged row can neither be covered nor stall the sealer.
    """

    pending_id = models.BigIntegerField(primary_key=True)
    mac = models.CharField(max_length=2 * chain.MAC_SIZE)
    rejected_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rejected {self.pending_id} {self.action}"


class Checkpoint(models.Model):
    """A signed Merkle root over the first ``size`` events.

    ``note``: the C2SP signed checkpoint exactly as signed. Rows from before that format have no
    note and keep their version 1 fields (``prev``, ``key``, ``signature``), verified as such.
    """

    size = models.BigIntegerField(unique=True)
    root = models.CharField(max_length=64)
    prev = models.CharField(max_length=64)
    time = models.DateTimeField()
    key = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)
    # The Merkle tree's right edge after ``size`` leaves (hex nodes, largest subtree first), so
    # the next checkpoint hashes only the events after this one. Not trusted by verification,
    # which recomputes every root: a tampered frontier yields a root that fails it.
    frontier = models.TextField(blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["size"]

    def __str__(self) -> str:
        return f"checkpoint {self.size} {self.root[:12]}"

    def as_signed(self) -> signed.AnyCheckpoint:
        if self.note:
            return signed.parse_tlog_checkpoint(self.note)
        return signed.Checkpoint(
            size=self.size,
            root=self.root,
            prev=self.prev,
            time=format_time(self.time),
            key=self.key,
            signature=self.signature,
        )


class Granularity(models.TextChoices):
    HOUR = "h"
    DAY = "d"


class EventCount(models.Model):
    """How many events of one kind fell in one hour or one UTC day: the console's rollup.

    Counting 1 M events for a 30-day chart takes seconds; these rows (a few tens of thousands)
    answer it in milliseconds. They are derived data: ``event_counts_catch_up`` adds every
    event after ``RollupState.last_seq`` exactly once, and a lost table is rebuilt from the log.
    Hourly rows are kept for two days (the 24-hour views), daily rows for good.
    """

    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    bucket = models.DateTimeField()
    # 0 for an event that names no facility: a NULL would make every such row a new key.
    facility_id = models.IntegerField(default=0)
    facility_name = models.CharField(max_length=150, blank=True)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=64, blank=True)
    count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "granularity",
                    "bucket",
                    "facility_id",
                    "facility_name",
                    "actor_kind",
                    "actor_id",
                    "actor_label",
                    "action",
                    "outcome",
                    "reason",
                ],
                name="audit_eventcount_key",
            )
        ]
        indexes = [models.Index(fields=["granularity", "bucket"], name="audit_eventcount_bucket")]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}h {self.action} {self.outcome}: {self.count}"


class RollupState(models.Model):
    """The last event counted into ``EventCount`` (one row)."""

    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"rolled up to #{self.last_seq}"


class VerificationStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"


class VerificationRun(models.Model):
    """One verification of the whole log, started from the console and run by a worker."""

    id = models.UUIDField(primary_key=True)
    requested_by = models.CharField(max_length=150)
    status = models.CharField(max_length=8, choices=VerificationStatus.choices, default=VerificationStatus.QUEUED)
    total = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)
    first_bad = models.BigIntegerField(null=True)
    problem = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"verification {self.id} {self.status}"


class TreeNode(models.Model):
    """The hash of a perfect Merkle subtree: leaves ``index * 2**level`` .. ``(index + 1) * 2**level - 1``.

    Written when a checkpoint first covers the whole subtree (levels >= 8 only), so inclusion and
    consistency proofs read O(log n) rows. Not trusted: a proof is checked against the signed
    root before it is handed out.
    """

    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_tree_node_position")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class SiemCursor(models.Model):
    """How far a SIEM destination has received the log: the last sequence it acknowledged.

    Advanced only after the receiver accepted a batch, so an outage loses nothing: delivery
    resumes after ``last_seq``. ``retry_at`` spaces out attempts while the receiver is down.
    """

    destination = models.CharField(max_length=32, unique=True)
    last_seq = models.BigIntegerField(default=0)
    failures = models.IntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.destination} at #{self.last_seq}"
