"""Reads about accounts: who a reviewer is right now, and what role a user plays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from apps.accounts.models import Reviewer
from apps.common.permissions import AUDITORS_GROUP
from reviewsvc.net import IPAddress, address_in_networks
from reviewsvc.policy import ReviewerFacts

_UNSET = object()
PROFILE_CACHE_ATTR = "_reviewsvc_reviewer"


@dataclass(frozen=True)
class ReviewerSnapshot:
    """Everything a reviewer request is decided on, taken once at the start of the request."""

    user_id: int
    username: str
    facility_id: int
    facility_name: str
    facility_country: str
    facility_regions: frozenset[str]
    facility_timezone: str
    facility_hours: str
    languages: tuple[str, ...]
    facts: ReviewerFacts


def reviewer_profile(*, user) -> Reviewer | None:
    """The user's reviewer profile with its facility, loaded at most once per request."""
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(user, PROFILE_CACHE_ATTR, _UNSET)
    if cached is _UNSET:
        cached = Reviewer.objects.select_related("facility").filter(user_id=user.pk).first()
        setattr(user, PROFILE_CACHE_ATTR, cached)
    return cached


def reviewer_snapshot(
    *, user, client_address: IPAddress | None, otp_verified: bool, today: date
) -> ReviewerSnapshot | None:
    """The reviewer behind ``user`` and the facts of this request; None if the user is no reviewer."""
    reviewer = reviewer_profile(user=user)
    if reviewer is None:
        return None
    facility = reviewer.facility
    facts = ReviewerFacts(
        otp_verified=otp_verified,
        account_status=reviewer.status if user.is_active else "suspended",
        vetted_until=reviewer.vetted_until,
        today=today,
        facility_active=facility.active,
        client_in_facility_network=address_in_networks(client_address, facility.parsed_networks()),
    )
    return ReviewerSnapshot(
        user_id=user.pk,
        username=user.get_username(),
        facility_id=facility.pk,
        facility_name=facility.name,
        facility_country=facility.country,
        facility_regions=frozenset(facility.regions),
        facility_timezone=facility.timezone,
        facility_hours=facility.hours,
        languages=tuple(reviewer.languages),
        facts=facts,
    )


def user_role(*, user) -> str:
    """reviewer | admin | auditor | staff (staff without admin rights)."""
    if reviewer_profile(user=user) is not None:
        return "reviewer"
    if user.is_superuser:
        return "admin"
    if user.is_staff and user.groups.filter(name=AUDITORS_GROUP).exists():
        return "auditor"
    return "admin" if user.is_staff else "staff"
