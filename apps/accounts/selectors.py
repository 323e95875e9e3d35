"""Reads about accounts: who a reviewer is right now, and what role a user plays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from apps.accounts.models import EncryptedTOTPDevice, Invite, Reviewer
from apps.accounts.services import hash_invite_token
from apps.audit.selectors import WorkstationUse, workstations_used
from apps.common import roles
from apps.facilities.selectors import workstation_enrolled
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
    workstation_name: str = ""


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
    *,
    user,
    client_address: IPAddress | None,
    otp_verified: bool,
    today: date,
    client_certificate: str | None = None,
) -> ReviewerSnapshot | None:
    """The reviewer behind ``user`` and the facts of this request; None if the user is no reviewer.

    ``client_certificate``: the fingerprint a trusted proxy forwarded, if any.
    """
    reviewer = reviewer_profile(user=user)
    if reviewer is None:
        return None
    facility = reviewer.facility
    workstation = workstation_enrolled(facility_id=facility.pk, fingerprint=client_certificate)
    facts = ReviewerFacts(
        otp_verified=otp_verified,
        account_status=reviewer.status if user.is_active else "suspended",
        vetted_until=reviewer.vetted_until,
        today=today,
        facility_active=facility.active,
        client_in_facility_network=address_in_networks(client_address, facility.parsed_networks()),
        workstation_required=facility.require_workstation,
        workstation_enrolled=workstation is not None,
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
        workstation_name=workstation.name if workstation is not None else "",
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


@dataclass(frozen=True)
class SecurityKey:
    name: str
    aaguid: str
    attestation_format: str  # "none" when the key's model was not attested
    registered_at: datetime | None
    last_used_at: datetime | None
    sign_count: int


@dataclass(frozen=True)
class ReviewerDevices:
    """What a person signs in with and from: for the auditors' per-reviewer page."""

    totp_enrolled: bool
    keys: tuple[SecurityKey, ...]
    workstations: tuple[WorkstationUse, ...]


def reviewer_devices(*, user) -> ReviewerDevices:
    """The user's authenticator app, security keys and the workstations their requests came from."""
    keys = (
        WebAuthnCredential.objects.filter(user=user, confirmed=True)
        .select_related("attestation")
        .order_by("created_at")
    )
    return ReviewerDevices(
        totp_enrolled=EncryptedTOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        keys=tuple(
            SecurityKey(
                name=key.name,
                aaguid=key.aaguid,
                attestation_format=getattr(getattr(key, "attestation", None), "fmt", "none"),
                registered_at=key.created_at,
                last_used_at=key.last_used_at,
                sign_count=key.sign_count,
            )
            for key in keys
        ),
        workstations=tuple(workstations_used(actor_label=user.get_username(), actor_id=str(user.pk))),
    )
