from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import django_otp
import segno
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import (
    OTP_FORMAT,
    SCOPES,
    TOTP_SEED_BYTES,
    ApiKey,
    EncryptedTOTPDevice,
    Invite,
    LoginThrottle,
    Reviewer,
    ReviewerStatus,
    hash_api_key,
)
from apps.audit.services import event_record, event_record_denied
from apps.common.context import RequestContext
from apps.common.net import admin_networks
from apps.common.permissions import AUDITORS_GROUP
from apps.facilities.selectors import facility_by_name
from reviewsvc.errors import AccessDenied, ServiceError
from reviewsvc.net import IPAddress, IPNetwork, address_in_networks
from reviewsvc.policy import ReviewerFacts, reviewer_may_act
from reviewsvc.validation import is_language_tag, normalise_language_tag

API_KEY_PREFIX = "rsk_"


def api_key_create(*, name: str, scopes: list[str], context: RequestContext) -> tuple[ApiKey, str]:
    """Make a key; returns the row and the secret, which exists nowhere else afterwards."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ServiceError("validation_error", f"Scopes must be among {', '.join(SCOPES)}.")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiKey.objects.filter(name=name).exists():
            raise ServiceError("conflict", f"An API key named {name!r} exists already.")
        api_key = ApiKey.objects.create(
            name=name, prefix=secret[:10], key_hash=hash_api_key(secret), scopes=sorted(set(scopes))
        )
        event_record(action="api_key.create", context=context, extra={"name": name, "scopes": api_key.scopes})
    return api_key, secret


def api_key_revoke(*, name: str, context: RequestContext) -> ApiKey:
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(name=name, revoked_at=None).first()
        if api_key is None:
            raise ServiceError("not_found", f"No active API key named {name!r}.")
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        event_record(action="api_key.revoke", context=context, extra={"name": name})
    return api_key


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 100:
        return None
    return ApiKey.objects.filter(key_hash=hash_api_key(secret), revoked_at=None).first()


# --- Reviewers, invites, enrolment, login, sessions ------------------------------------------
INVITE_VALID = timedelta(hours=72)
MAX_USERNAME = 150  # Django's username column; invited e-mail addresses are checked against it
INVITE_PATH = "/invite/{token}/"
DEVICE_NAME = "authenticator"


@dataclass(frozen=True)
class Enrolment:
    """What the invite page shows once: the authenticator's URI, as QR code and as manual key."""

    otpauth_uri: str
    manual_key: str
    qr_svg_data_uri: str


def normalise_username(value: str) -> str:
    """Usernames are e-mail addresses, compared case-insensitively and without outer spaces."""
    return value.strip().lower()


def username_digest(username: str) -> str:
    return hashlib.sha256(normalise_username(username).encode("utf-8", "surrogatepass")).hexdigest()


def _valid_email(email: str) -> str:
    username = normalise_username(email)
    try:
        validate_email(username)
    except DjangoValidationError:
        raise ServiceError("validation_error", f"{email!r} is not an e-mail address.") from None
    if len(username) > MAX_USERNAME:
        raise ServiceError("validation_error", "The e-mail address is too long.")
    return username


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


def _languages(values: list[str]) -> list[str]:
    out = []
    for value in values:
        if not is_language_tag(value):
            raise ServiceError("validation_error", f"{value!r} is not a BCP 47 language tag.")
        tag = normalise_language_tag(value)
        if tag not in out:
            out.append(tag)
    if not out:
        raise ServiceError("validation_error", "A reviewer needs at least one language.")
    return out


def reviewer_invite(
    *, email: str, facility_name: str, languages: list[str], vetted_until: date, context: RequestContext
) -> tuple[Reviewer, str]:
    """Create a reviewer (not yet able to log in) and their first invite link."""
    username = _valid_email(email)
    langs = _languages(languages)
    with transaction.atomic():
        facility = facility_by_name(name=facility_name)
        if facility is None:
            raise ServiceError("not_found", f"No facility named {facility_name!r}.")
        if User.objects.filter(username=username).exists():
            raise ServiceError("conflict", f"A user {username!r} exists already; use reenrol_reviewer.")
        user = User(username=username, email=username, is_active=False)
        user.set_unusable_password()
        user.save()
        reviewer = Reviewer.objects.create(
            user=user, facility=facility, languages=langs, vetted_until=vetted_until, status=ReviewerStatus.INVITED
        )
        url = invite_issue(user=user, context=context)
    return reviewer, url


def staff_invite(*, email: str, auditor: bool, superuser: bool, context: RequestContext) -> tuple[User, str]:
    """Create a staff account (admin, or read-only auditor) and its invite link."""
    username = _valid_email(email)
    if auditor and superuser:
        raise ServiceError("validation_error", "An auditor is read-only and cannot be a superuser.")
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise ServiceError("conflict", f"A user {username!r} exists already.")
        user = User(username=username, email=username, is_active=False, is_staff=True, is_superuser=superuser)
        user.set_unusable_password()
        user.save()
        if auditor:
            user.groups.add(Group.objects.get_or_create(name=AUDITORS_GROUP)[0])
        url = invite_issue(user=user, context=context)
    return user, url


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
        user.set_password(password)
        user.save(update_fields=["password"])
        EncryptedTOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = EncryptedTOTPDevice(user=user, name=DEVICE_NAME, confirmed=False)
        device.set_seed(secrets.token_bytes(TOTP_SEED_BYTES))
        device.save()
        invite.accepted_at = timezone.now()
        invite.save(update_fields=["accepted_at"])
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
    )


def invite_confirm(*, token: str, otp: str, client_address: IPAddress | None, context: RequestContext) -> User:
    """Prove the new authenticator works: confirm it, activate the account, kill the invite."""
    with transaction.atomic():
        invite = _invite_open(token=token, client_address=client_address, action="invite.confirm", context=context)
        user = invite.user
        device = EncryptedTOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
        if invite.accepted_at is None or device is None:
            raise ServiceError("validation_error", "Set a password first.")
    # Outside the block above: a wrong code must still count against the device's throttle.
    verified = otp_format_ok(otp) and django_otp.verify_token(user, device.persistent_id, otp) is not None
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
        User.objects.filter(pk=user.pk).update(is_active=True)
        Reviewer.objects.filter(user=user).update(status=ReviewerStatus.ACTIVE)
        invite.used_at = timezone.now()
        invite.save(update_fields=["used_at"])
        facility_id = _facility_id_of(user)
        event_record(
            action="device.change",
            context=context,
            facility_id=facility_id,
            extra={"username": user.get_username(), "change": "enrolled"},
        )
        event_record(
            action="invite.confirm",
            context=context,
            facility_id=facility_id,
            extra={"username": user.get_username()},
        )
    return user


def otp_format_ok(otp: object) -> bool:
    return isinstance(otp, str) and OTP_FORMAT.fullmatch(otp) is not None


# --- Login ------------------------------------------------------------------------------------
def _login_limits() -> tuple[int, timedelta, timedelta]:
    return (
        settings.REVIEWSVC_LOGIN_MAX_FAILURES,
        timedelta(seconds=settings.REVIEWSVC_LOGIN_WINDOW_SECONDS),
        timedelta(seconds=settings.REVIEWSVC_LOGIN_LOCKOUT_SECONDS),
    )


def login_locked(*, digest: str, now: datetime) -> bool:
    return LoginThrottle.objects.filter(username_digest=digest, locked_until__gt=now).exists()


def _login_failure(*, digest: str, reason: str, context: RequestContext, now: datetime) -> None:
    """Count a failure against the submitted name; lock it at the limit. Commits on its own."""
    limit, window, lockout = _login_limits()
    with transaction.atomic():
        throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(
            username_digest=digest, defaults={"window_started_at": now}
        )
        if throttle.window_started_at + window <= now:
            throttle.failures, throttle.window_started_at = 0, now
        throttle.failures += 1
        just_locked = throttle.failures >= limit and not (throttle.locked_until and throttle.locked_until > now)
        if just_locked:
            throttle.locked_until = now + lockout
        throttle.save()
        event_record(action="auth.login_failed", context=context, outcome="denied", reason=reason)
    if just_locked:
        event_record_denied(
            action="auth.lockout",
            context=context,
            reason="too_many_attempts",
            extra={"failures": throttle.failures, "locked_until": throttle.locked_until.isoformat()},
        )


def login_verify(
    *, username: str, password: str, otp: str, client_address: IPAddress | None, context: RequestContext
) -> tuple[User, EncryptedTOTPDevice]:
    """Check password and OTP in one step; one answer for every wrong part.

    Returns the user and the device that verified; the caller logs them in. Unknown user, wrong
    password and wrong or replayed code all raise ``invalid_credentials``; the event keeps the
    real reason. A locked name is refused before any password is hashed.
    """
    now = timezone.now()
    digest = username_digest(username)
    if login_locked(digest=digest, now=now):
        event_record_denied(action="auth.login_failed", context=context, reason="too_many_attempts")
        raise ServiceError("too_many_attempts")

    def fail(reason: str) -> ServiceError:
        _login_failure(digest=digest, reason=reason, context=context, now=now)
        return ServiceError("invalid_credentials")

    name = normalise_username(username)
    user = User.objects.filter(username=name).first() if len(name) <= MAX_USERNAME else None
    if user is None or not user.has_usable_password():
        # Hash anyway, so an unknown or not yet enrolled name takes as long as a wrong password.
        User().set_password(password)
        raise fail("unknown_user" if user is None else "no_password")
    if not user.check_password(password):
        raise fail("bad_password")
    if not user.is_active:
        raise fail("inactive_user")
    device = EncryptedTOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None or not otp_format_ok(otp):
        raise fail("bad_otp")
    verified = django_otp.verify_token(user, device.persistent_id, otp)
    if verified is None:
        device.refresh_from_db()
        if device.is_replay(otp):
            event_record_denied(action="auth.otp_replay", context=context, reason="otp_replay")
            raise fail("otp_replay")
        raise fail("bad_otp")
    LoginThrottle.objects.filter(username_digest=digest).delete()
    _login_place_check(user=user, client_address=client_address, context=context, today=timezone.localdate())
    return user, verified


def _login_place_check(*, user: User, client_address: IPAddress | None, context: RequestContext, today: date) -> None:
    """With the credentials proven: may this account work, from here?"""
    reviewer = Reviewer.objects.select_related("facility").filter(user=user).first()
    if reviewer is not None:
        decision = reviewer_may_act(
            ReviewerFacts(
                otp_verified=True,
                account_status=reviewer.status,
                vetted_until=reviewer.vetted_until,
                today=today,
                facility_active=reviewer.facility.active,
                client_in_facility_network=address_in_networks(client_address, reviewer.facility.parsed_networks()),
            )
        )
        if not decision:
            event_record_denied(
                action="auth.login", context=context, reason=decision.reason, facility_id=reviewer.facility_id
            )
            raise ServiceError(decision.reason)
        return
    if not user.is_staff:
        event_record_denied(action="auth.login", context=context, reason="permission_denied")
        raise ServiceError("permission_denied")
    if not address_in_networks(client_address, admin_networks()):
        event_record_denied(action="auth.login", context=context, reason="outside_facility_network")
        raise ServiceError("outside_facility_network")


# --- Sessions ---------------------------------------------------------------------------------
SESSION_LOGIN_AT = "reviewsvc_login_at"
SESSION_SEEN_AT = "reviewsvc_seen_at"
SESSION_EPOCH = "reviewsvc_epoch"
# Last activity is written at most this often, so a busy session is not one UPDATE per request;
# the idle limit is therefore exact to within this many seconds.
SESSION_TOUCH_SECONDS = 30


def session_start(*, session, user: User, now: datetime) -> None:
    """Mark a fresh session (called on every login): when it began, and the user's epoch."""
    stamp = int(now.timestamp())
    session[SESSION_LOGIN_AT] = stamp
    session[SESSION_SEEN_AT] = stamp
    session[SESSION_EPOCH] = Reviewer.objects.filter(user=user).values_list("session_epoch", flat=True).first() or 0


def session_end_reason(*, session, reviewer: Reviewer | None, now: datetime, touch: bool = True) -> str | None:
    """Why this authenticated session must end now, or None. Records activity when ``touch``."""
    login_at, seen_at = session.get(SESSION_LOGIN_AT), session.get(SESSION_SEEN_AT)
    if not isinstance(login_at, int) or not isinstance(seen_at, int):
        return "unmarked"  # fail closed: a session that did not pass session_start
    stamp = int(now.timestamp())
    if stamp - login_at >= settings.SESSION_COOKIE_AGE:
        return "absolute"
    if stamp - seen_at >= settings.SESSION_IDLE_SECONDS:
        return "idle"
    if reviewer is not None and session.get(SESSION_EPOCH) != reviewer.session_epoch:
        return "ended"
    if touch and stamp - seen_at >= SESSION_TOUCH_SECONDS:
        session[SESSION_SEEN_AT] = stamp
    return None


def reviewer_sessions_end(*, reviewer_ids) -> int:
    """End every session of these reviewers at once: their sessions' epoch no longer matches."""
    return Reviewer.objects.filter(pk__in=reviewer_ids).update(session_epoch=F("session_epoch") + 1)


def facility_sessions_end(*, facility_id: int) -> int:
    return Reviewer.objects.filter(facility_id=facility_id).update(session_epoch=F("session_epoch") + 1)


# --- Recovery and leaving ---------------------------------------------------------------------
def _reviewer_for_update(email: str) -> Reviewer:
    reviewer = (
        Reviewer.objects.select_for_update()
        .select_related("user")
        .filter(user__username=normalise_username(email))
        .first()
    )
    if reviewer is None:
        raise ServiceError("not_found", f"No reviewer {email!r}.")
    return reviewer


def reviewer_reenrol(*, email: str, context: RequestContext) -> str:
    """Lost authenticator or forgotten password: sessions, password and device go; a new invite."""
    with transaction.atomic():
        reviewer = _reviewer_for_update(email)
        if reviewer.offboarded_at is not None:
            raise ServiceError("conflict", "This reviewer was offboarded.")
        user = reviewer.user
        reviewer_sessions_end(reviewer_ids=[reviewer.pk])
        EncryptedTOTPDevice.objects.filter(user=user).delete()
        user.set_unusable_password()
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
        Reviewer.objects.filter(pk=reviewer.pk).update(status=ReviewerStatus.INVITED)
        event_record(
            action="device.change",
            context=context,
            facility_id=reviewer.facility_id,
            extra={"username": user.get_username(), "change": "removed"},
        )
        url = invite_issue(user=user, context=context)
        event_record(
            action="reviewer.reenrol",
            context=context,
            facility_id=reviewer.facility_id,
            extra={"username": user.get_username()},
        )
    return url


def reviewer_suspend(*, email: str, context: RequestContext) -> Reviewer:
    with transaction.atomic():
        reviewer = _reviewer_for_update(email)
        reviewer_sessions_end(reviewer_ids=[reviewer.pk])
        Reviewer.objects.filter(pk=reviewer.pk).update(status=ReviewerStatus.SUSPENDED)
        event_record(
            action="reviewer.suspend",
            context=context,
            facility_id=reviewer.facility_id,
            extra={"username": reviewer.user.get_username()},
        )
    reviewer.refresh_from_db()
    return reviewer


def reviewer_offboard(*, email: str, context: RequestContext) -> Reviewer:
    """The reviewer leaves: sessions end, devices and password go, open invites die."""
    with transaction.atomic():
        reviewer = _reviewer_for_update(email)
        user = reviewer.user
        now = timezone.now()
        reviewer_sessions_end(reviewer_ids=[reviewer.pk])
        EncryptedTOTPDevice.objects.filter(user=user).delete()
        Invite.objects.filter(user=user, used_at=None, expires_at__gt=now).update(expires_at=now)
        user.set_unusable_password()
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
        Reviewer.objects.filter(pk=reviewer.pk).update(status=ReviewerStatus.SUSPENDED, offboarded_at=now)
        event_record(
            action="reviewer.offboard",
            context=context,
            facility_id=reviewer.facility_id,
            extra={"username": user.get_username()},
        )
    reviewer.refresh_from_db()
    return reviewer
