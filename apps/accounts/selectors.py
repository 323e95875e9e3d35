"""Reads about accounts: who a reviewer is right now, and what role a user plays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone

from apps.accounts.models import Invite, Reviewer
from apps.accounts.services import hash_invite_token
from apps.common import roles
from reviewsvc.errors import ServiceError
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
    """``admin`` | ``auditor`` | ``reviewer``: ``apps.common.roles.user_role``."""
    return roles.user_role(user)


def _invite_state_of(invite: Invite | None, now: datetime) -> str:
    if invite is None:
        return "unknown"
    if invite.used_at is not None:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return "open"


def invite_password_problems(*, token: str, password: str) -> list[str]:
    """What the password validators say of ``password`` for the invited user; empty when it passes.

    The same ``validate_password`` call that ``invite_accept`` makes, so the live feedback on the
    invite page and the final check can never disagree. Nothing is stored or logged.
    """
    invite = Invite.objects.select_related("user").filter(token_hash=hash_invite_token(token)).first()
    state = _invite_state_of(invite, timezone.now())
    if state != "open":
        raise ServiceError("not_found" if state == "unknown" else f"invite_{state}")
    try:
        validate_password(password, user=invite.user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def reviewer_by_user_id(*, user_id: int) -> Reviewer | None:
    """The reviewer profile of a user id, with its user and facility (the auditors' console)."""
    return Reviewer.objects.select_related("user", "facility").filter(user_id=user_id).first()
