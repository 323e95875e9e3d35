"""Login in one step (password and a TOTP code or a security key), the per-name failure throttle,
and where one may log in."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import NamedTuple

import django_otp
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp_webauthn.models import WebAuthnCredential

from apps.accounts.models import (
    OTP_FORMAT,
    EncryptedTOTPDevice,
    LoginThrottle,
    NetworkThrottle,
    Reviewer,
)
from apps.accounts.services import webauthn as webauthn_keys
from apps.audit.services import event_record, event_record_denied
from apps.common.context import RequestContext
from apps.common.net import admin_networks
from apps.facilities.selectors import facility_networks_all, workstation_enrolled
from reviewsvc.errors import ServiceError
from reviewsvc.net import IPAddress, address_in_networks, source_network
from reviewsvc.policy import ReviewerFacts, reviewer_may_act, second_factor_allowed
from reviewsvc.policy.signin import FACTOR_TOTP, FACTOR_WEBAUTHN

MAX_USERNAME = 150  # Django's username column; invited e-mail addresses are checked against it


def normalise_username(value: str) -> str:
    """Usernames are e-mail addresses, compared case-insensitively and without outer spaces."""
    return value.strip().lower()


def username_digest(username: str) -> str:
    return hashlib.sha256(normalise_username(username).encode("utf-8", "surrogatepass")).hexdigest()


def otp_format_ok(otp: object) -> bool:
    return isinstance(otp, str) and OTP_FORMAT.fullmatch(otp) is not None


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


def _from_a_work_network(address: IPAddress | None) -> bool:
    return address_in_networks(address, admin_networks()) or address_in_networks(address, facility_networks_all())


def _outside_attempt(*, client_address: IPAddress | None, context: RequestContext, now: datetime) -> ServiceError:
    """Count one attempt from outside every work network; the refusal to raise.

    Below the cap each attempt is a denied event; the attempt that reaches it is one
    ``auth.lockout`` event for the network; later ones in the window write nothing.
    """
    _, window, _ = _login_limits()
    limit = settings.REVIEWSVC_LOGIN_OUTSIDE_MAX_ATTEMPTS
    network = source_network(client_address)
    with transaction.atomic():
        throttle, _ = NetworkThrottle.objects.select_for_update().get_or_create(
            network=network, defaults={"window_started_at": now}
        )
        if throttle.window_started_at + window <= now:
            throttle.attempts, throttle.window_started_at = 0, now
        throttle.attempts += 1
        throttle.save(update_fields=["attempts", "window_started_at"])
        if throttle.attempts < limit:
            event_record(
                action="auth.login_failed",
                context=context,
                outcome="denied",
                reason="outside_facility_network",
                extra={"source_network": network},
            )
        elif throttle.attempts == limit:
            event_record(
                action="auth.lockout",
                context=context,
                outcome="denied",
                reason="too_many_attempts",
                extra={
                    "source_network": network,
                    "attempts": limit,
                    "until": (throttle.window_started_at + window).isoformat(),
                },
            )
    return ServiceError("too_many_attempts" if throttle.attempts >= limit else "outside_facility_network")


class SignIn(NamedTuple):
    user: User
    device: Device
    workstation: str  # the enrolled workstation's name, or ""


def login_verify(
    *,
    username: str,
    password: str,
    otp: str | None = None,
    webauthn: object = None,
    client_address: IPAddress | None,
    context: RequestContext,
    client_certificate: str | None = None,
) -> SignIn:
    """Check password and second factor (a TOTP ``otp`` or a key's ``webauthn`` assertion) in
    one step; one answer for every wrong part.

    Returns the user, the device that verified and the workstation; the caller logs them in.
    Unknown user, wrong password, wrong or replayed code, a bad assertion and a factor the
    facility does not accept all raise ``invalid_credentials``; the event keeps the real reason.
    A locked name is refused before any password is hashed. ``client_certificate``: the
    workstation certificate's fingerprint a trusted proxy forwarded.

    Two counters, never mixed. From inside a facility's or the admin networks (where reviewers
    and staff work), failures count per submitted username (``LoginThrottle``). From anywhere
    else nobody may sign in at all, so the attempt is refused at once with
    ``outside_facility_network`` — no user lookup, no password hash, no hint whether the
    credentials were right — and counted per source network (``NetworkThrottle``): past the
    cap it is 429 with no further event, so a flood neither burns CPU, nor locks out a reviewer
    at work by guessing their name, nor fills the access log.
    """
    now = timezone.now()
    if not _from_a_work_network(client_address):
        raise _outside_attempt(client_address=client_address, context=context, now=now)
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
    factor = FACTOR_WEBAUTHN if webauthn is not None else FACTOR_TOTP
    if not second_factor_allowed(policy=user_second_factor_policy(user), factor=factor):
        # Refused before the code or key is even looked at: at a key-only facility a TOTP code
        # phished from the reviewer is worth nothing.
        raise fail(f"{factor}_not_allowed")
    if factor == FACTOR_WEBAUTHN:
        try:
            device: Device = webauthn_keys.assertion_verify(user=user, bound_to=digest, data=webauthn)
        except webauthn_keys.WebAuthnRefused as refused:
            raise fail(refused.reason) from None
    else:
        device = _totp_verify(user=user, otp=otp, context=context, fail=fail)
    LoginThrottle.objects.filter(username_digest=digest).delete()
    workstation = _login_place_check(
        user=user,
        client_address=client_address,
        client_certificate=client_certificate,
        context=context,
        today=timezone.localdate(),
    )
    return SignIn(user=user, device=device, workstation=workstation)


def _totp_verify(*, user: User, otp: str | None, context: RequestContext, fail) -> Device:
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
    return verified


def device_factor(device: Device) -> str:
    """``webauthn`` or ``totp``: what a sign-in's event records."""
    return FACTOR_WEBAUTHN if isinstance(device, WebAuthnCredential) else FACTOR_TOTP


def user_second_factor_policy(user: User) -> str | None:
    """The user's facility's ``second_factor``; None for staff, who belong to no facility."""
    return Reviewer.objects.filter(user=user).values_list("facility__second_factor", flat=True).first()


def webauthn_login_options(*, username: str) -> dict:
    """Request options for a key sign-in by ``username``; the same shape whether or not the
    name exists or has keys (see ``apps.accounts.services.webauthn``)."""
    name = normalise_username(username)
    user = User.objects.filter(username=name, is_active=True).first() if len(name) <= MAX_USERNAME else None
    return webauthn_keys.assertion_options(user=user, bound_to=username_digest(username))


def _login_place_check(
    *,
    user: User,
    client_address: IPAddress | None,
    client_certificate: str | None,
    context: RequestContext,
    today: date,
) -> str:
    """With the credentials proven: may this account work, from here? Returns the name of the
    facility's enrolled workstation the request came from, or ""."""
    reviewer = Reviewer.objects.select_related("facility").filter(user=user).first()
    if reviewer is not None:
        facility = reviewer.facility
        workstation = workstation_enrolled(facility_id=facility.pk, fingerprint=client_certificate)
        decision = reviewer_may_act(
            ReviewerFacts(
                otp_verified=True,
                account_status=reviewer.status,
                vetted_until=reviewer.vetted_until,
                today=today,
                facility_active=facility.active,
                client_in_facility_network=address_in_networks(client_address, facility.parsed_networks()),
                workstation_required=facility.require_workstation,
                workstation_enrolled=workstation is not None,
            )
        )
        if not decision:
            event_record_denied(
                action="auth.login",
                context=context,
                reason=decision.reason,
                facility_id=reviewer.facility_id,
                extra={"certificate": client_certificate} if client_certificate else None,
            )
            raise ServiceError(decision.reason)
        return workstation.name if workstation is not None else ""
    if not user.is_staff:
        event_record_denied(action="auth.login", context=context, reason="permission_denied")
        raise ServiceError("permission_denied")
    if not address_in_networks(client_address, admin_networks()):
        event_record_denied(action="auth.login", context=context, reason="outside_facility_network")
        raise ServiceError("outside_facility_network")
    return ""


def login_throttle_lift(*, throttle: LoginThrottle, context: RequestContext) -> None:
    """Lift a name's failure count and lockout early (an admin, after checking with the person)."""
    with transaction.atomic():
        LoginThrottle.objects.filter(pk=throttle.pk).delete()
        event_record(
            action="auth.lockout_lift",
            context=context,
            extra={"username_digest": throttle.username_digest, "failures": throttle.failures},
        )
