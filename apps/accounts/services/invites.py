"""Single-use invites: issued, opened from the right network, accepted (password, new authenticator), confirmed."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import django_otp
import segno
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import (
    TOTP_SEED_BYTES,
    EncryptedTOTPDevice,
    Invite,
    Reviewer,
    ReviewerStatus,
)
from apps.accounts.services import webauthn as webauthn_keys
from apps.accounts.services.login import otp_format_ok, user_second_factor_policy
from apps.accounts.services.passwords import password_set_allowed
from apps.audit.services import event_record, event_record_denied
from apps.common.context import RequestContext, actor_of
from apps.common.net import admin_networks
from reviewsvc.errors import AccessDenied, ServiceError
from reviewsvc.net import IPAddress, IPNetwork, address_in_networks
from reviewsvc.policy import second_factor_allowed
from reviewsvc.policy.signin import FACTOR_TOTP, FACTOR_WEBAUTHN

INVITE_VALID = timedelta(hours=72)
# The token rides in the fragment, which browsers never send: it is in no request line, access
# log or Referer. The page reads it and posts it in a body.
INVITE_PATH = "/invite/#{token}"
DEVICE_NAME = "authenticator"


@dataclass(frozen=True)
class Enrolment:
    """What the invite page shows once: the authenticator's URI, as QR code and as manual key."""

    otpauth_uri: str
    manual_key: str
    qr_svg_data_uri: str
    second_factor: str  # what the facility accepts at sign-in: totp | webauthn | any


def invite_issue(*, user: User, context: RequestContext, now: datetime | None = None) -> str:
    """A new single-use invite for ``user``; earlier unused ones expire. Returns the link.

    The link is built from REVIEWSVC_SITE_URL, never from a request's Host header, so a
    forged Host cannot point an invite at someone else's site. Call inside a transaction.
    """
    now = now or timezone.now()
    Invite.objects.filter(user=user, used_at=None, expires_at__gt=now).update(expires_at=now)
    token = secrets.token_urlsafe(32)  # 256 bits
    Invite.objects.create(user=user, token_hash=hash_invite_token(token), created_at=now, expires_at=now + INVITE_VALID)
    event_record(
        action="invite.create",
        context=context,
        extra={"username": user.get_username(), "expires_at": (now + INVITE_VALID).isoformat()},
    )
    return settings.REVIEWSVC_SITE_URL + INVITE_PATH.format(token=token)


def hash_invite_token(token: str) -> str:
    # 256 random bits: a fast hash suffices, there is no dictionary to try.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _invite_for_update(*, token: str, now: datetime) -> Invite:
    invite = (
        Invite.objects.select_for_update().select_related("user").filter(token_hash=hash_invite_token(token)).first()
    )
    if invite is None:
        raise ServiceError("not_found")
    if invite.used_at is not None:
        raise ServiceError("invite_used")
    if invite.expires_at <= now:
        raise ServiceError("invite_expired")
    return invite


def _enrolment_networks(user: User) -> tuple[IPNetwork, ...]:
    reviewer = Reviewer.objects.select_related("facility").filter(user=user).first()
    if reviewer is not None:
        return reviewer.facility.parsed_networks() if reviewer.facility.active else ()
    return tuple(admin_networks())


def _facility_id_of(user: User) -> int | None:
    return Reviewer.objects.filter(user=user).values_list("facility_id", flat=True).first()


def _as_invitee(context: RequestContext, user: User) -> RequestContext:
    """The request's context with the invited account as its actor: enrolment is that person acting."""
    kind, actor_id, label = actor_of(user, None)
    return dataclasses.replace(context, actor_kind=kind, actor_id=actor_id, actor_label=label)


def _invite_open(*, token: str, client_address: IPAddress | None, action: str, context: RequestContext) -> Invite:
    """The invite behind ``token``, checked: exists, unused, not expired, asked from the right network."""
    now = timezone.now()
    try:
        invite = _invite_for_update(token=token, now=now)
    except ServiceError as error:
        if error.code != "invite_expired":
            raise
        # Re-raised as a refusal that leaves an ``invite.expired`` event once this rolls back.
        expired = Invite.objects.select_related("user").get(token_hash=hash_invite_token(token))
        raise AccessDenied(
            "invite_expired",
            audit={
                "action": "invite.expired",
                "facility_id": _facility_id_of(expired.user),
                "extra": {"username": expired.user.get_username()},
            },
        ) from None
    if not address_in_networks(client_address, _enrolment_networks(invite.user)):
        raise AccessDenied(
            "outside_facility_network",
            audit={
                "action": action,
                "facility_id": _facility_id_of(invite.user),
                "extra": {"username": invite.user.get_username()},
            },
        )
    return invite


def invite_accept(*, token: str, password: str, client_address: IPAddress | None, context: RequestContext) -> Enrolment:
    """Set the invited user's own password and start enrolling a new authenticator.

    The device stays unconfirmed, and the account inactive, until ``invite_confirm``. Asking
    again before confirming replaces both: the link holder is still the only one enrolling.
    """
    with transaction.atomic():
        invite = _invite_open(token=token, client_address=client_address, action="invite.accept", context=context)
        user = invite.user
        try:
            validate_password(password, user=user)
        except DjangoValidationError as exc:
            raise ServiceError("validation_error", details={"password": list(exc.messages)}) from None
        with password_set_allowed():
            user.set_password(password)
            user.save(update_fields=["password"])
        EncryptedTOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = EncryptedTOTPDevice(user=user, name=DEVICE_NAME, confirmed=False)
        device.set_seed(secrets.token_bytes(TOTP_SEED_BYTES))
        device.save()
        invite.accepted_at = timezone.now()
        invite.save(update_fields=["accepted_at"])
        context = _as_invitee(context, user)
        event_record(
            action="password.change",
            context=context,
            facility_id=_facility_id_of(user),
            extra={"username": user.get_username(), "change": "set at enrolment"},
        )
        event_record(
            action="invite.accept",
            context=context,
            facility_id=_facility_id_of(user),
            extra={"username": user.get_username()},
        )
    uri = device.otpauth_uri()
    return Enrolment(
        otpauth_uri=uri,
        manual_key=device.manual_key(),
        qr_svg_data_uri=segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
        second_factor=user_second_factor_policy(user) or "any",
    )


def invite_confirm(*, token: str, otp: str, client_address: IPAddress | None, context: RequestContext) -> User:
    """Prove the new authenticator works: confirm it, activate the account, kill the invite."""
    with transaction.atomic():
        invite = _invite_open(token=token, client_address=client_address, action="invite.confirm", context=context)
        user = invite.user
        device = EncryptedTOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
        if invite.accepted_at is None or device is None:
            raise ServiceError("validation_error", "Set a password first.")
        if not second_factor_allowed(policy=user_second_factor_policy(user), factor=FACTOR_TOTP):
            raise ServiceError("validation_error", "Your facility signs in with security keys only: register one.")
    # Outside the block above: a wrong code must still count against the device's throttle.
    verified = otp_format_ok(otp) and django_otp.verify_token(user, device.persistent_id, otp) is not None
    context = _as_invitee(context, user)
    if not verified:
        event_record_denied(
            action="invite.confirm",
            context=context,
            reason="bad_otp",
            facility_id=_facility_id_of(user),
            extra={"username": user.get_username()},
        )
        raise ServiceError("validation_error", "The code is not valid; check your authenticator's clock.")
    with transaction.atomic():
        invite = _invite_open(token=token, client_address=client_address, action="invite.confirm", context=context)
        EncryptedTOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        EncryptedTOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        _enrolment_finish(invite=invite, change={"change": "enrolled"}, extra={}, context=context)
    return user


def _enrolment_finish(*, invite: Invite, change: dict, extra: dict, context: RequestContext) -> None:
    """The second factor is proven: the account is active, the invite dead, both recorded."""
    user = invite.user
    User.objects.filter(pk=user.pk).update(is_active=True)
    # Only an invited reviewer becomes active here: a suspended one re-enrolled keeps the
    # suspension, which reviewer_reinstate alone lifts.
    Reviewer.objects.filter(user=user, status=ReviewerStatus.INVITED).update(status=ReviewerStatus.ACTIVE)
    invite.used_at = timezone.now()
    invite.save(update_fields=["used_at"])
    facility_id = _facility_id_of(user)
    event_record(
        action="device.change",
        context=context,
        facility_id=facility_id,
        extra={"username": user.get_username(), **change},
    )
    event_record(
        action="invite.confirm",
        context=context,
        facility_id=facility_id,
        extra={"username": user.get_username(), **extra},
    )


def _invite_key_check(invite: Invite) -> frozenset[str]:
    """May this invite's holder register a key now? Returns the facility's AAGUID allow-list."""
    if invite.accepted_at is None:
        raise ServiceError("validation_error", "Set a password first.")
    return webauthn_keys.key_rules(user=invite.user)


def invite_key_options(*, token: str, client_address: IPAddress | None, context: RequestContext) -> dict:
    """Creation options for the invited user's security key or passkey (after the password step)."""
    with transaction.atomic():
        invite = _invite_open(token=token, client_address=client_address, action="invite.key", context=context)
        allowed = _invite_key_check(invite)
        return webauthn_keys.registration_options(
            user=invite.user, bound_to=invite.token_hash, attestation=bool(allowed)
        )


def invite_key_register(
    *, token: str, credential: object, client_address: IPAddress | None, context: RequestContext
) -> User:
    """Register the invited user's key instead of an authenticator app; activates the account and
    kills the invite, as ``invite_confirm`` does. A refused key leaves a ``denied`` event."""
    user: User | None = None
    try:
        with transaction.atomic():
            invite = _invite_open(token=token, client_address=client_address, action="invite.key", context=context)
            user = invite.user
            allowed = _invite_key_check(invite)
            if not isinstance(credential, dict):
                raise webauthn_keys.WebAuthnRefused("webauthn_malformed")
            registration = webauthn_keys.credential_register(
                user=user, bound_to=invite.token_hash, data=credential, allowed_aaguids=allowed
            )
            EncryptedTOTPDevice.objects.filter(user=user, confirmed=False).delete()
            _enrolment_finish(
                invite=invite,
                change={
                    "change": "security key enrolled",
                    "aaguid": registration.credential.aaguid,
                    "attested": registration.attested,
                },
                extra={"factor": FACTOR_WEBAUTHN},
                context=context,
            )
    except webauthn_keys.WebAuthnRefused as refused:
        assert user is not None  # noqa: S101 - refusals come only after the invite was found
        event_record_denied(
            action="invite.key",
            context=context,
            reason=refused.reason,
            facility_id=_facility_id_of(user),
            extra={"username": user.get_username()},
        )
        raise ServiceError("validation_error", webauthn_keys.key_refusal_message(refused.reason)) from None
    return user
