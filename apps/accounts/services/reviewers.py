"""People: reviewers and staff created with their first invite; recovery, suspension and leaving."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import (
    EncryptedTOTPDevice,
    Invite,
    Reviewer,
    ReviewerStatus,
    VettingRecord,
)
from apps.accounts.services import webauthn as webauthn_keys
from apps.accounts.services.invites import invite_issue
from apps.accounts.services.login import MAX_USERNAME, normalise_username
from apps.accounts.services.sessions import reviewer_sessions_end
from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.roles import AUDITORS_GROUP
from apps.facilities.models import Facility
from apps.facilities.selectors import facility_by_name
from reviewsvc.errors import ServiceError
from reviewsvc.validation import is_language_tag, normalise_language_tag


def _valid_email(email: str) -> str:
    username = normalise_username(email)
    try:
        validate_email(username)
    except DjangoValidationError:
        raise ServiceError("validation_error", f"{email!r} is not an e-mail address.") from None
    if len(username) > MAX_USERNAME:
        raise ServiceError("validation_error", "The e-mail address is too long.")
    return username


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
    """Lost authenticator or forgotten password: sessions, password and device go; a new invite.

    A suspension survives it: the reviewer enrols again but stays suspended until
    ``reviewer_reinstate``. An offboarded reviewer is not re-enrolled at all.
    """
    with transaction.atomic():
        reviewer = _reviewer_for_update(email)
        if reviewer.offboarded_at is not None:
            raise ServiceError("conflict", "This reviewer was offboarded.")
        user = reviewer.user
        reviewer_sessions_end(reviewer_ids=[reviewer.pk])
        EncryptedTOTPDevice.objects.filter(user=user).delete()
        keys = webauthn_keys.user_keys_remove(user=user)
        user.set_unusable_password()
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
        if reviewer.status != ReviewerStatus.SUSPENDED:
            Reviewer.objects.filter(pk=reviewer.pk).update(status=ReviewerStatus.INVITED)
        event_record(
            action="device.change",
            context=context,
            facility_id=reviewer.facility_id,
            extra={"username": user.get_username(), "change": "removed", "security_keys": keys},
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


def reviewer_reinstate(*, email: str, context: RequestContext) -> Reviewer:
    """Lift a suspension: the one way back to work after ``reviewer_suspend``.

    A reviewer re-enrolled while suspended and not yet confirmed goes back to ``invited``, so the
    open invite still has to be finished; an offboarded reviewer is never reinstated.
    """
    with transaction.atomic():
        reviewer = _reviewer_for_update(email)
        if reviewer.offboarded_at is not None:
            raise ServiceError("conflict", "This reviewer was offboarded; invite them anew.")
        if reviewer.status != ReviewerStatus.SUSPENDED:
            raise ServiceError("conflict", f"This reviewer is {reviewer.status}, not suspended.")
        enrolled = (
            reviewer.user.is_active and EncryptedTOTPDevice.objects.filter(user=reviewer.user, confirmed=True).exists()
        )
        status = ReviewerStatus.ACTIVE if enrolled else ReviewerStatus.INVITED
        Reviewer.objects.filter(pk=reviewer.pk).update(status=status)
        event_record(
            action="reviewer.reinstate",
            context=context,
            facility_id=reviewer.facility_id,
            extra={"username": reviewer.user.get_username(), "status": status},
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
        webauthn_keys.user_keys_remove(user=user)
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


def reviewer_change(
    *,
    reviewer: Reviewer,
    context: RequestContext,
    languages: list[str] | None = None,
    vetted_until: date | None = None,
    facility: Facility | None = None,
) -> Reviewer:
    """Change a reviewer's languages, vetting end or facility; one ``reviewer.change`` event names
    the fields that changed.

    A move to another facility ends the reviewer's sessions at once: they were opened from the old
    facility's networks, and the new one's hours and regions apply from the next login.
    """
    with transaction.atomic():
        locked = Reviewer.objects.select_for_update().select_related("user").get(pk=reviewer.pk)
        changes: dict = {}
        if languages is not None and (tags := _languages(languages)) != locked.languages:
            changes["languages"] = tags
        if vetted_until is not None and vetted_until != locked.vetted_until:
            changes["vetted_until"] = vetted_until
        if facility is not None and facility.pk != locked.facility_id:
            changes["facility"] = facility
        Reviewer.objects.filter(pk=locked.pk).update(**changes)
        if "facility" in changes:
            reviewer_sessions_end(reviewer_ids=[locked.pk])
        event_record(
            action="reviewer.change",
            context=context,
            facility_id=facility.pk if "facility" in changes and facility else locked.facility_id,
            extra={"username": locked.user.get_username(), "fields": sorted(changes)},
        )
    locked.refresh_from_db()
    return locked


def vetting_record_add(
    *,
    reviewer: Reviewer,
    kind: str,
    checked_by: str,
    checked_at: date,
    valid_until: date | None,
    notes: str,
    recorded_by: User,
    context: RequestContext,
) -> VettingRecord:
    """Add one check to the reviewer's vetting history (evidence: added to, never rewritten)."""
    with transaction.atomic():
        record = VettingRecord.objects.create(
            reviewer=reviewer,
            kind=kind,
            checked_by=checked_by,
            checked_at=checked_at,
            valid_until=valid_until,
            notes=notes,
            recorded_by=recorded_by,
        )
        event_record(
            action="vetting.record",
            context=context,
            facility_id=reviewer.facility_id,
            extra={
                "username": reviewer.user.get_username(),
                "kind": kind,
                "valid_until": valid_until.isoformat() if valid_until else None,
            },
        )
    return record
