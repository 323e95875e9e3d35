"""The one decision on whether a reviewer may act, and on whether a clip may reach them.

Pure: plain values in, a ``Decision`` out. Services gather the facts at the moment of the
request and ask here; nothing else decides clip access. Checks run in a fixed order, so the
reason a reviewer sees is stable: who you are, where you are, then the clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

ACCOUNT_ACTIVE = "active"
LEASE_ACTIVE = "active"
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


@dataclass(frozen=True)
class ClipFacts:
    """What is true of one clip and this reviewer's lease on it, right now.

    ``lease_status`` is None when this reviewer holds no lease (never had one, or the clip
    does not exist): both answer ``not_found``, so an id reveals nothing.
    """

    lease_status: str | None  # active | expired | revoked | submitted | None
    lease_expires_at: datetime | None
    now: datetime
    clip_status: str
    clip_region: str
    facility_regions: frozenset[str]
    subject_opted_out: bool


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
    return ALLOW


def region_approved(*, clip_region: str, facility_regions: frozenset[str]) -> bool:
    return clip_region in facility_regions


def can_deliver(reviewer: ReviewerFacts, clip: ClipFacts) -> Decision:
    """May this reviewer hear, extend or transcribe this clip now?"""
    decision = reviewer_may_act(reviewer)
    if not decision:
        return decision
    if clip.lease_status is None:
        return deny("not_found")
    if not region_approved(clip_region=clip.clip_region, facility_regions=clip.facility_regions):
        return deny("region_not_approved")
    if clip.subject_opted_out:
        return deny("subject_opted_out")
    if clip.clip_status in CLIP_GONE_STATUSES:
        return deny("clip_gone")
    if clip.lease_status != LEASE_ACTIVE:
        return deny("lease_expired")
    if clip.lease_expires_at is None or clip.lease_expires_at <= clip.now:
        return deny("lease_expired")
    return ALLOW
