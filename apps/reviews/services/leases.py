"""Leases on the review queue: taking, holding, giving back and expiring them.

Every call that reaches a clip gathers the facts at that moment (a fresh read of the lease, the
clip and its subject, with the lease row locked) and asks ``reviewsvc.policy`` whether it may go
on; the state change and its access event then commit in one transaction. A refusal writes its
``denied`` event in its own transaction (``AccessDenied``, rendered by the exception handler).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.selectors import ReviewerSnapshot
from apps.audit.services import event_record
from apps.clips.models import Clip, ClipStatus
from apps.clips.services import clip_transition, clips_transition
from apps.common.compiled import CompiledRead, CompiledUpdate
from apps.common.context import RequestContext
from apps.reviews import alerts, limits
from apps.reviews.models import Assignment, AssignmentStatus
from reviewsvc.errors import AccessDenied
from reviewsvc.policy import ClipFacts, Decision, QueueFacts, can_deliver, can_lease, reviewer_may_act

T = TypeVar("T")

EXPIRY_BATCH = 200
# What the lease calls decide and act on: the policy's facts, the audio's key and blob, the
# event's ids. Reading only these keeps the per-request lock query small.
LEASE_FIELDS = (
    "id",
    "clip_id",
    "status",
    "expires_at",
    "plays",
    "clip__id",
    "clip__subject_id",
    "clip__status",
    "clip__region",
    "clip__size_bytes",
    "clip__mime_type",
    "clip__blob_name",
    "clip__wrapped_key",
    "clip__subject__subject_id",
    "clip__subject__opted_out",
)
# What the queue decides on (the policy's facts, the order) and what the lease answer and its
# event show.
QUEUE_FIELDS = (
    "id",
    "subject_id",
    "language",
    "region",
    "status",
    "wrapped_key",
    "duration_ms",
    "created_at",
    "subject__subject_id",
    "subject__opted_out",
)


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.REVIEWSVC_LEASE_SECONDS)


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- Facts ------------------------------------------------------------------------------------
def _clip_facts(
    *, reviewer: ReviewerSnapshot, assignment: Assignment | None, clip: Clip | None, now: datetime
) -> ClipFacts:
    if assignment is None or clip is None:
        # Missing, malformed, or someone else's: the same facts, so the same answer.
        return ClipFacts(
            lease_status=None,
            lease_expires_at=None,
            now=now,
            clip_status="",
            clip_region="",
            facility_regions=reviewer.facility_regions,
            subject_opted_out=False,
        )
    return ClipFacts(
        lease_status=assignment.status,
        lease_expires_at=assignment.expires_at,
        now=now,
        clip_status=clip.status,
        clip_region=clip.region,
        facility_regions=reviewer.facility_regions,
        subject_opted_out=clip.subject.opted_out,
        audio_shredded=clip.is_shredded,
    )


def _queue_facts(*, reviewer: ReviewerSnapshot, clip: Clip) -> QueueFacts:
    return QueueFacts(
        clip_status=clip.status,
        clip_language=clip.language,
        clip_region=clip.region,
        reviewer_languages=frozenset(reviewer.languages),
        facility_regions=reviewer.facility_regions,
        subject_opted_out=clip.subject.opted_out,
        audio_shredded=clip.is_shredded,
    )


def _lease_for_update(
    *, reviewer: ReviewerSnapshot, assignment_id, changes_clip: bool
) -> tuple[Assignment | None, Clip | None]:
    """The reviewer's own lease ``assignment_id`` and its clip and subject, read fresh and locked.

    Opt-out and deletion lock subject, clips, then leases. A call that will change the clip
    (release, submit) takes the same order, clip first, and reads the lease by a statement that
    starts once the clip's lock is ours, so it sees whatever an opt-out committed meanwhile. A
    call that changes only the lease (audio, heartbeat) locks the lease alone, in one statement:
    an opt-out waiting on that lock commits after this access, and one that got there first has
    revoked the lease, which the read then shows.
    """
    key = _as_uuid(assignment_id)
    if key is None:
        return None, None
    if changes_clip and not _LEASED_CLIP_LOCK.rows(key=key, reviewer=reviewer.user_id):
        return None, None
    assignment = _LEASE_READ.first(key=key, reviewer=reviewer.user_id)
    return (assignment, assignment.clip) if assignment else (None, None)


# The clip of the lease, locked first by a call that will change it.
_LEASED_CLIP_LOCK = CompiledRead(
    lambda key, reviewer: (
        Clip.objects.select_for_update(of=("self",))
        .filter(assignments__pk=key, assignments__reviewer_id=reviewer)
        .values_list("pk", flat=True)
    ),
    fields={"key": Assignment._meta.pk, "reviewer": Assignment._meta.get_field("reviewer")},
)
# The lease with its clip and subject, the lease row locked: every audio request, heartbeat,
# release and submit reads it, so its SQL is compiled once (apps.common.compiled).
_LEASE_READ = CompiledRead(
    lambda key, reviewer: (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("clip__subject")
        .only(*LEASE_FIELDS)
        .filter(pk=key, reviewer_id=reviewer)
    ),
    fields={"key": Assignment._meta.pk, "reviewer": Assignment._meta.get_field("reviewer")},
    prepared=True,  # by primary key
)


def _assignment_change(assignment: Assignment, **changes) -> None:
    """Write ``changes`` to the locked lease row in one UPDATE and mirror them on the instance."""
    _LEASE_UPDATE.update(changes, key=assignment.pk)
    for name, value in changes.items():
        setattr(assignment, name, value)


_LEASE_UPDATE = CompiledUpdate(
    Assignment, lambda key: Assignment.objects.filter(pk=key), fields={"key": Assignment._meta.pk}, prepared=True
)


def _denied(
    *, decision: Decision, action: str, reviewer: ReviewerSnapshot, assignment_id, clip: Clip | None
) -> AccessDenied:
    audit: dict = {
        "action": action,
        "facility_id": reviewer.facility_id,
        "extra": {"assignment": str(assignment_id)[:64]},
    }
    # Only a lease of one's own names its clip: a stranger's id says nothing about what it is.
    if clip is not None and decision.reason != "not_found":
        audit |= {"clip_id": clip.id, "subject_id": clip.subject_id}
    return AccessDenied(decision.reason, audit=audit)


def _on_lease(
    *,
    reviewer: ReviewerSnapshot,
    assignment_id,
    context: RequestContext,
    action: str,
    act: Callable[[Assignment, Clip, datetime], tuple[T, dict]],
    changes_clip: bool,
    limit: str | None = None,
) -> T:
    """Decide on the reviewer's lease now; if allowed, ``act`` and record ``action`` in one transaction.

    ``act`` changes state and returns what it made with the event's extra fields; ``_on_lease``
    returns what it made. An exception from it (or from the event write) rolls everything back,
    so nothing is granted that is not logged. ``limit``: the rate limit (``limits.limit_take``
    kind) this call counts against, first thing in the transaction.
    """
    now = timezone.now()
    with transaction.atomic():
        if limit is not None:
            limits.limit_take(kind=limit, reviewer=reviewer, action=action)
        assignment, clip = _lease_for_update(reviewer=reviewer, assignment_id=assignment_id, changes_clip=changes_clip)
        decision = can_deliver(
            reviewer.facts, _clip_facts(reviewer=reviewer, assignment=assignment, clip=clip, now=now)
        )
        if decision:
            made, extra = act(assignment, clip, now)
            event_record(
                action=action,
                context=context,
                clip_id=clip.id,
                subject_id=clip.subject_id,
                facility_id=reviewer.facility_id,
                facility_name=reviewer.facility_name,
                extra={"assignment": str(assignment.id), **extra},
            )
            return made
    if decision.reason == "lease_expired" and assignment.status == AssignmentStatus.ACTIVE:
        # The lease ran out: the clip goes back to the queue now, not at the next sweep.
        _assignments_expire(ids=[assignment.pk], now=now)
    raise _denied(decision=decision, action=action, reviewer=reviewer, assignment_id=assignment_id, clip=clip)


# --- Expiry -----------------------------------------------------------------------------------
def _expire_rows(assignments: list[Assignment], *, now: datetime) -> None:
    """End leases whose time is up and put their clips back in the queue. Caller holds the locks."""
    if not assignments:
        return
    Assignment.objects.filter(pk__in=[a.pk for a in assignments], status=AssignmentStatus.ACTIVE).update(
        status=AssignmentStatus.EXPIRED, ended_at=now
    )
    clips_transition(
        clips=Clip.objects.filter(pk__in=[a.clip_id for a in assignments], status=ClipStatus.ASSIGNED),
        to=ClipStatus.QUEUED,
        now=now,
    )


def _expire_events(assignments: list[Assignment]) -> None:
    """One event per ended lease; called last in the transaction (it takes the log's append lock)."""
    context = RequestContext.system("lease_expiry")
    for assignment in assignments:
        event_record(
            action="review.lease_expired",
            context=context,
            clip_id=assignment.clip_id,
            facility_id=assignment.facility_id,
            extra={"assignment": str(assignment.pk), "reviewer_id": assignment.reviewer_id},
        )


def _expire_locked(assignments: list[Assignment], *, now: datetime) -> None:
    _expire_rows(assignments, now=now)
    _expire_events(assignments)


def _due_clips(*, status: str, now: datetime):
    return Clip.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        assignments__status=status, assignments__expires_at__lte=now
    )


_DUE_CLIPS_LOCK = CompiledRead(
    lambda status, now: _due_clips(status=status, now=now).values_list("pk", flat=True)[:EXPIRY_BATCH],
    fields={"status": Assignment._meta.get_field("status"), "now": Assignment._meta.get_field("expires_at")},
)


def _lock_due(*, now: datetime, ids=None) -> list[Assignment]:
    """Up to EXPIRY_BATCH lapsed active leases (of ``ids`` if given), locked clip first (the
    order opt-out uses); locked ones are skipped."""
    if ids is None:
        # Every ``next`` asks this, so its SQL is compiled once.
        clip_ids = _DUE_CLIPS_LOCK.rows(status=AssignmentStatus.ACTIVE, now=now)
    else:
        clips = _due_clips(status=AssignmentStatus.ACTIVE, now=now).filter(assignments__pk__in=ids)
        clip_ids = list(clips.values_list("pk", flat=True)[:EXPIRY_BATCH])
    if not clip_ids:
        return []
    return list(
        Assignment.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            clip_id__in=clip_ids, status=AssignmentStatus.ACTIVE, expires_at__lte=now
        )
    )


def _assignments_expire(*, ids=None, now: datetime | None = None) -> int:
    now = now or timezone.now()
    with transaction.atomic():
        batch = _lock_due(now=now, ids=ids)
        _expire_locked(batch, now=now)
    return len(batch)


def assignments_expire_due(*, now: datetime | None = None) -> int:
    """The beat task's work: every lease past its end returns its clip to the queue."""
    total = 0
    while done := _assignments_expire(now=now):
        total += done
    return total


def assignments_revoke_for_subject(*, subject_id: str) -> int:
    """Revoke every active lease on the subject's clips; called inside the opt-out's transaction.

    A bulk update without per-lease events: the opt-out's own event records the withdrawal. The
    next audio request of a revoked lease is refused by the policy.
    """
    return Assignment.objects.filter(status=AssignmentStatus.ACTIVE, clip__subject_id=subject_id).update(
        status=AssignmentStatus.REVOKED, ended_at=timezone.now()
    )


# --- The queue --------------------------------------------------------------------------------
def _queue_heads(*, reviewer: ReviewerSnapshot) -> list[Clip]:
    """The oldest unlocked queued clip of each (language, region) the reviewer may take, locked.

    One indexed probe per pair (the partial index ``clip_queue_idx``) keeps ``next`` as fast with a
    million queued clips as with ten thousand. ``SKIP LOCKED`` on PostgreSQL lets concurrent
    reviewers pass over each other's candidates; on SQLite the IMMEDIATE transaction already
    serialises writers, and the partial unique constraints back both up.
    """
    heads = []
    for language in dict.fromkeys(reviewer.languages):
        for region in sorted(reviewer.facility_regions):
            clip = _QUEUE_HEAD_READ.first(status=ClipStatus.QUEUED, language=language, region=region)
            if clip is not None:
                heads.append(clip)
    return sorted(heads, key=lambda clip: (clip.created_at, str(clip.id)))


_QUEUE_HEAD_READ = CompiledRead(
    lambda status, language, region: (
        Clip.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("subject")
        .only(*QUEUE_FIELDS)
        .filter(status=status, language=language, region=region, subject__opted_out=False, wrapped_key__isnull=False)
        .order_by("created_at", "id")[:1]
    ),
    fields={
        "status": Clip._meta.get_field("status"),
        "language": Clip._meta.get_field("language"),
        "region": Clip._meta.get_field("region"),
    },
)
# The reviewer's lease, if any: the first read of every ``next``.
_ACTIVE_LEASE_READ = CompiledRead(
    lambda reviewer, status: Assignment.objects.filter(reviewer_id=reviewer, status=status).order_by("pk")[:1],
    fields={"reviewer": Assignment._meta.get_field("reviewer"), "status": Assignment._meta.get_field("status")},
)


def _lease_next_once(*, reviewer: ReviewerSnapshot, context: RequestContext) -> tuple[Assignment | None, bool]:
    now = timezone.now()
    with transaction.atomic():
        current = _ACTIVE_LEASE_READ.first(reviewer=reviewer.user_id, status=AssignmentStatus.ACTIVE)
        if current is not None and current.expires_at > now:
            return current, False
        # Lapsed leases (this reviewer's and anyone's) go back to the queue before it is read.
        # Their events come last, with the lease's own: the log's append lock must not be held
        # while the insert below may wait on another transaction's row.
        lapsed = _lock_due(now=now)
        _expire_rows(lapsed, now=now)
        candidates = [
            clip
            for clip in _queue_heads(reviewer=reviewer)
            if can_lease(reviewer.facts, _queue_facts(reviewer=reviewer, clip=clip))
        ]
        if not candidates:
            _expire_events(lapsed)
            return None, False
        limits.limit_take(kind="lease", reviewer=reviewer, action="review.lease")
        clip = candidates[0]
        assignment = _lease_create(reviewer=reviewer, clip=clip, now=now)
        _expire_events(lapsed)
        _lease_event(reviewer=reviewer, assignment=assignment, context=context)
    return assignment, True


def _lease_create(*, reviewer: ReviewerSnapshot, clip: Clip, now: datetime) -> Assignment:
    """A new lease on the locked, queued ``clip``; the caller records its event."""
    assignment = Assignment.objects.create(
        clip=clip,
        reviewer_id=reviewer.user_id,
        facility_id=reviewer.facility_id,
        leased_at=now,
        expires_at=now + lease_duration(),
    )
    clip_transition(clip=clip, to=ClipStatus.ASSIGNED, now=now)
    assignment.clip = clip
    return assignment


def _lease_event(*, reviewer: ReviewerSnapshot, assignment: Assignment, context: RequestContext, **extra: str) -> None:
    clip = assignment.clip
    event_record(
        action="review.lease",
        context=context,
        clip_id=clip.id,
        subject_id=clip.subject_id,
        facility_id=reviewer.facility_id,
        facility_name=reviewer.facility_name,
        extra={"assignment": str(assignment.id), "language": clip.language, "region": clip.region, **extra},
    )


def assignment_lease_next(*, reviewer: ReviewerSnapshot, context: RequestContext) -> Assignment | None:
    """The reviewer's active lease, or a new one on the oldest eligible queued clip; None if none.

    Asking again returns the same lease. Two concurrent calls of one reviewer can both find no
    lease and pick different clips; the partial unique constraint stops the second insert, and
    the retry then returns the first one's lease.
    """
    decision = reviewer_may_act(reviewer.facts)
    if not decision:
        raise AccessDenied(decision.reason, audit={"action": "review.lease", "facility_id": reviewer.facility_id})
    try:
        assignment, new = _lease_next_once(reviewer=reviewer, context=context)
    except IntegrityError:
        assignment, new = _lease_next_once(reviewer=reviewer, context=context)
    if assignment is not None and new:
        alerts.alerts_after_access(reviewer=reviewer, clip_id=assignment.clip_id, context=context)
    return assignment


def assignment_retake(*, reviewer: ReviewerSnapshot, assignment_id, context: RequestContext) -> Assignment:
    """Lease again the clip of the reviewer's own lease that ran out, if the queue still offers it.

    Only an expired lease can be taken again (an opt-out revokes, and a released clip was given
    back on purpose); the clip must be queued and pass ``can_lease`` now, exactly as for ``next``.
    Asking again while the new lease is active returns it.
    """
    decision = reviewer_may_act(reviewer.facts)
    if not decision:
        raise AccessDenied(decision.reason, audit={"action": "review.lease", "facility_id": reviewer.facility_id})
    key = _as_uuid(assignment_id)
    now = timezone.now()
    with transaction.atomic():
        ended = (
            Assignment.objects.filter(pk=key, reviewer_id=reviewer.user_id, status=AssignmentStatus.EXPIRED).first()
            if key
            else None
        )
        current = _ACTIVE_LEASE_READ.first(reviewer=reviewer.user_id, status=AssignmentStatus.ACTIVE)
        if ended is not None and current is not None and current.clip_id == ended.clip_id:
            return current
        clip = (
            Clip.objects.select_for_update(of=("self",)).select_related("subject").filter(pk=ended.clip_id).first()
            if ended is not None and current is None
            else None
        )
        if clip is None:
            decision = Decision(False, "conflict" if current is not None and ended is not None else "not_found")
        else:
            decision = can_lease(reviewer.facts, _queue_facts(reviewer=reviewer, clip=clip))
        if decision:
            limits.limit_take(kind="lease", reviewer=reviewer, action="review.lease")
            assignment = _lease_create(reviewer=reviewer, clip=clip, now=now)
            _lease_event(reviewer=reviewer, assignment=assignment, context=context, retake_of=str(ended.id))
    if not decision:
        raise _denied(
            decision=decision, action="review.lease", reviewer=reviewer, assignment_id=assignment_id, clip=clip
        )
    alerts.alerts_after_access(reviewer=reviewer, clip_id=assignment.clip_id, context=context)
    return assignment


def assignment_state(*, reviewer: ReviewerSnapshot, assignment_id, context: RequestContext) -> Assignment:
    """The reviewer's own lease as it stands; a lapsed lease is ended on this read."""
    key = _as_uuid(assignment_id)
    assignment = Assignment.objects.filter(pk=key, reviewer_id=reviewer.user_id).first() if key else None
    if assignment is None:
        raise _denied(
            decision=Decision(False, "not_found"),
            action="review.assignment",
            reviewer=reviewer,
            assignment_id=assignment_id,
            clip=None,
        )
    if assignment.status == AssignmentStatus.ACTIVE and assignment.expires_at <= timezone.now():
        _assignments_expire(ids=[assignment.pk])
        assignment.refresh_from_db()
    return assignment


def assignment_heartbeat(*, reviewer: ReviewerSnapshot, assignment_id, context: RequestContext) -> Assignment:
    def extend(assignment: Assignment, clip: Clip, now: datetime) -> tuple[Assignment, dict]:
        _assignment_change(assignment, expires_at=now + lease_duration())
        return assignment, {}

    return _on_lease(
        reviewer=reviewer,
        assignment_id=assignment_id,
        context=context,
        action="review.heartbeat",
        act=extend,
        changes_clip=False,
    )


def assignment_release(*, reviewer: ReviewerSnapshot, assignment_id, context: RequestContext) -> Assignment:
    """Give the clip back: it returns to the queue at its original place (oldest first)."""

    def release(assignment: Assignment, clip: Clip, now: datetime) -> tuple[Assignment, dict]:
        _assignment_change(assignment, status=AssignmentStatus.RELEASED, ended_at=now)
        clips_transition(
            clips=Clip.objects.filter(pk=clip.pk, status=ClipStatus.ASSIGNED), to=ClipStatus.QUEUED, now=now
        )
        return assignment, {}

    return _on_lease(
        reviewer=reviewer,
        assignment_id=assignment_id,
        context=context,
        action="review.release",
        act=release,
        changes_clip=True,
    )
