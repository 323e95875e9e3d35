"""The one decision on whether a reviewer may act, and on whether a clip may reach them.

Pure: plain values in, a ``Decision`` out. Services gather the facts at the moment of the
request and ask here; nothing else decides clip access. Checks run in a fixed order, so the
reason a reviewer sees is stable: who you are, where you are, then the clip.

Three questions, one chain of checks:

- ``reviewer_may_act``: may this person use the review API at all, right now?
- ``can_lease``: may the queue hand this clip to them (``next``)?
- ``can_deliver``: may they hear, extend, transcribe or release the clip they hold a lease on?
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

ACCOUNT_ACTIVE = "active"
LEASE_ACTIVE = "active"
CLIP_QUEUED = "queued"
CLIP_GONE_STATUSES = frozenset({"withdrawn", "deleted", "expired"})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


@dataclass(frozen=True)
class ReviewerFacts:
    """What is true of the reviewer and their request, right now."""

    otp_verified: bool
    account_status: str  # invited | active | suspended
    vetted_until: date | None
    today: date
    facility_active: bool
    client_in_facility_network: bool
    # At a facility that requires workstations: does the request carry the certificate of an
    # enrolled, unrevoked workstation of *that* facility (forwarded by a trusted proxy)?
    workstation_required: bool = False
    workstation_enrolled: bool = False


@dataclass(frozen=True)
class ClipFacts:
    """What is true of one clip and this reviewer's lease on it, right now.

    ``lease_status`` is None when this reviewer holds no lease (never had one, or the clip
    does not exist): both answer ``not_found``, so an id reveals nothing.
    ``audio_shredded`` is true once the clip's data key is destroyed: there is nothing left to hear.
    """

    lease_status: str | None  # active | expired | revoked | released | submitted | None
    lease_expires_at: datetime | None
    now: datetime
    clip_status: str
    clip_region: str
    facility_regions: frozenset[str]
    subject_opted_out: bool
    audio_shredded: bool = False


@dataclass(frozen=True)
class QueueFacts:
    """What is true of one queued clip and of the reviewer's skills, when the queue offers it."""

    clip_status: str
    clip_language: str
    clip_region: str
    reviewer_languages: frozenset[str]
    facility_regions: frozenset[str]
    subject_opted_out: bool
    audio_shredded: bool = False


def reviewer_may_act(reviewer: ReviewerFacts) -> Decision:
    if not reviewer.otp_verified:
        return deny("otp_required")
    if reviewer.account_status != ACCOUNT_ACTIVE:
        return deny("account_suspended")
    if reviewer.vetted_until is None or reviewer.vetted_until < reviewer.today:
        return deny("vetting_expired")
    if not reviewer.facility_active:
        return deny("facility_inactive")
    if not reviewer.client_in_facility_network:
        return deny("outside_facility_network")
    if reviewer.workstation_required and not reviewer.workstation_enrolled:
        return deny("workstation_not_enrolled")
    return ALLOW


def region_approved(*, clip_region: str, facility_regions: frozenset[str]) -> bool:
    return clip_region in facility_regions


def _clip_reachable(
    *, clip_region: str, facility_regions: frozenset[str], subject_opted_out: bool, clip_status: str, shredded: bool
) -> Decision:
    """The clip-side checks that ``next`` and every later call share, in one order."""
    if not region_approved(clip_region=clip_region, facility_regions=facility_regions):
        return deny("region_not_approved")
    if subject_opted_out:
        return deny("subject_opted_out")
    if clip_status in CLIP_GONE_STATUSES or shredded:
        return deny("clip_gone")
    return ALLOW


def can_lease(reviewer: ReviewerFacts, clip: QueueFacts) -> Decision:
    """May the queue hand this clip to this reviewer now?

    The queue query already filters on these facts for speed; asking here as well means a
    query bug cannot hand out a clip the policy would refuse.
    """
    decision = reviewer_may_act(reviewer)
    if not decision:
        return decision
    decision = _clip_reachable(
        clip_region=clip.clip_region,
        facility_regions=clip.facility_regions,
        subject_opted_out=clip.subject_opted_out,
        clip_status=clip.clip_status,
        shredded=clip.audio_shredded,
    )
    if not decision:
        return decision
    # Not one of the reviewer's languages, or no longer queued: simply not on offer to them.
    if clip.clip_language not in clip.reviewer_languages or clip.clip_status != CLIP_QUEUED:
        return deny("not_found")
    return ALLOW


def can_deliver(reviewer: ReviewerFacts, clip: ClipFacts) -> Decision:
    """May this reviewer hear, extend, transcribe or release this clip now?"""
    decision = reviewer_may_act(reviewer)
    if not decision:
        return decision
    if clip.lease_status is None:
        return deny("not_found")
    decision = _clip_reachable(
        clip_region=clip.clip_region,
        facility_regions=clip.facility_regions,
        subject_opted_out=clip.subject_opted_out,
        clip_status=clip.clip_status,
        shredded=clip.audio_shredded,
    )
    if not decision:
        return decision
    if clip.lease_status != LEASE_ACTIVE:
        return deny("lease_expired")
    if clip.lease_expires_at is None or clip.lease_expires_at <= clip.now:
        return deny("lease_expired")
    return ALLOW
