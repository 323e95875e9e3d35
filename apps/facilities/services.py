"""Facilities: created by the operator, changed and (de)activated by an admin; deactivation ends
its sessions (through ``facility_deactivated``, which the accounts app answers)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone as django_timezone

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.regions import regions_unknown, regions_unknown_message
from apps.facilities.models import AAGUID_FORMAT, Facility, SecondFactor, Workstation
from apps.facilities.signals import facility_deactivated, facility_second_factor_changed
from reviewsvc.clientcert import pem_fingerprint
from reviewsvc.errors import ServiceError
from reviewsvc.net import parse_networks

EDITABLE = ("name", "country", "networks", "regions", "timezone", "hours")


def _normalised(*, name=None, country=None, networks=None, regions=None, timezone=None, hours=None) -> dict:
    """The given fields in stored form; networks canonical (``10.1.0.0/16``; IPv4-mapped IPv6 as IPv4)."""
    values: dict = {}
    if name is not None:
        values["name"] = name.strip()
    if country is not None:
        values["country"] = country.strip().upper()
    if networks is not None:
        try:
            values["networks"] = [str(net) for net in parse_networks(networks)]
        except ValueError as exc:
            raise ServiceError("validation_error", f"Invalid network: {exc}") from None
    if regions is not None:
        wanted = sorted({region.strip() for region in regions})
        if unknown := regions_unknown(wanted):
            raise ServiceError("validation_error", regions_unknown_message(unknown))
        values["regions"] = wanted
    if timezone is not None:
        values["timezone"] = timezone.strip()
    if hours is not None:
        values["hours"] = hours.strip()
    return values


def _full_clean(facility: Facility) -> None:
    try:
        facility.full_clean()
    except DjangoValidationError as exc:
        raise ServiceError("validation_error", "; ".join(exc.messages), details=exc.message_dict) from None


def facility_create(
    *,
    name: str,
    country: str,
    networks: list[str],
    regions: list[str],
    timezone: str = "",
    hours: str = "",
    second_factor: str = SecondFactor.ANY,
    require_workstation: bool = False,
    webauthn_aaguids: list[str] | None = None,
    context: RequestContext,
) -> Facility:
    facility = Facility(
        **_normalised(name=name, country=country, networks=networks, regions=regions, timezone=timezone, hours=hours),
        second_factor=_second_factor(second_factor),
        require_workstation=require_workstation,
        webauthn_aaguids=_aaguids(webauthn_aaguids or []),
    )
    _full_clean(facility)
    with transaction.atomic():
        facility.save()
        event_record(
            action="facility.create",
            context=context,
            facility_id=facility.pk,
            extra={
                "name": facility.name,
                "country": facility.country,
                "regions": facility.regions,
                **_sign_in_settings(facility),
            },
        )
    return facility


def facility_change(
    *,
    facility: Facility,
    context: RequestContext,
    name: str | None = None,
    country: str | None = None,
    networks: list[str] | None = None,
    regions: list[str] | None = None,
    timezone: str | None = None,
    hours: str | None = None,
) -> Facility:
    """Change a facility's name, country, networks, regions or hours; the event names the fields.

    A reviewer's next request is checked against the new networks and hours (the binding reads
    them on every request), so no session needs to end.
    """
    values = _normalised(name=name, country=country, networks=networks, regions=regions, timezone=timezone, hours=hours)
    with transaction.atomic():
        locked = Facility.objects.select_for_update().get(pk=facility.pk)
        changed = sorted(field for field, value in values.items() if getattr(locked, field) != value)
        for field in changed:
            setattr(locked, field, values[field])
        _full_clean(locked)
        if changed:
            locked.save(update_fields=changed)
        event_record(
            action="facility.change",
            context=context,
            facility_id=locked.pk,
            extra={"name": locked.name, "fields": changed},
        )
    return locked


def _second_factor(value: str) -> str:
    if value not in SecondFactor.values:
        raise ServiceError("validation_error", f"The second factor must be one of {', '.join(SecondFactor.values)}.")
    return value


def _aaguids(values: list[str]) -> list[str]:
    cleaned = sorted({value.strip().lower() for value in values})
    bad = [value for value in cleaned if not AAGUID_FORMAT.fullmatch(value)]
    if bad:
        raise ServiceError("validation_error", f"Not an AAGUID: {', '.join(bad)}.")
    return cleaned


def _sign_in_settings(facility: Facility) -> dict:
    return {
        "second_factor": facility.second_factor,
        "require_workstation": facility.require_workstation,
        "webauthn_aaguids": list(facility.webauthn_aaguids),
    }


def facility_sign_in_change(
    *,
    facility: Facility,
    second_factor: str | None = None,
    require_workstation: bool | None = None,
    webauthn_aaguids: list[str] | None = None,
    context: RequestContext,
) -> Facility:
    """Change which factors and devices count. A change of factor ends the reviewers' sessions,
    so a session signed in with a factor that no longer counts does not go on."""
    changes: dict = {}
    if second_factor is not None:
        changes["second_factor"] = _second_factor(second_factor)
    if require_workstation is not None:
        changes["require_workstation"] = require_workstation
    if webauthn_aaguids is not None:
        changes["webauthn_aaguids"] = _aaguids(webauthn_aaguids)
    with transaction.atomic():
        Facility.objects.filter(pk=facility.pk).update(**changes)
        ended = 0
        if "second_factor" in changes and changes["second_factor"] != facility.second_factor:
            ended = sum(
                count for _, count in facility_second_factor_changed.send(sender=Facility, facility_id=facility.pk)
            )
        facility.refresh_from_db()
        event_record(
            action="facility.change",
            context=context,
            facility_id=facility.pk,
            extra={"name": facility.name, "fields": sorted(changes), "reviewers": ended, **_sign_in_settings(facility)},
        )
    return facility


def workstation_enrol(*, facility: Facility, name: str, certificate_pem: bytes, context: RequestContext) -> Workstation:
    """Register a workstation by its client certificate's SHA-256 fingerprint."""
    try:
        fingerprint, subject = pem_fingerprint(certificate_pem)
    except ValueError:
        raise ServiceError("validation_error", "The file holds no PEM certificate.") from None
    name = name.strip()
    if not name or len(name) > 100:
        raise ServiceError("validation_error", "A workstation name has 1 to 100 characters.")
    with transaction.atomic():
        if Workstation.objects.filter(facility=facility, name=name).exists():
            raise ServiceError("conflict", f"{facility.name} has a workstation named {name!r} already.")
        if Workstation.objects.filter(facility=facility, fingerprint=fingerprint).exists():
            raise ServiceError("conflict", f"This certificate is enrolled at {facility.name} already.")
        workstation = Workstation.objects.create(
            facility=facility, name=name, fingerprint=fingerprint, certificate_subject=subject[:300]
        )
        event_record(
            action="workstation.enrol",
            context=context,
            facility_id=facility.pk,
            extra={"workstation": name, "fingerprint": fingerprint},
        )
    return workstation


def workstation_revoke(*, facility: Facility, name: str, context: RequestContext) -> Workstation:
    """From the next request on, the certificate no longer counts (the policy reads it each time)."""
    with transaction.atomic():
        workstation = (
            Workstation.objects.select_for_update().filter(facility=facility, name=name, revoked_at=None).first()
        )
        if workstation is None:
            raise ServiceError("not_found", f"{facility.name} has no enrolled workstation named {name!r}.")
        workstation.revoked_at = django_timezone.now()
        workstation.save(update_fields=["revoked_at"])
        event_record(
            action="workstation.revoke",
            context=context,
            facility_id=facility.pk,
            extra={"workstation": name, "fingerprint": workstation.fingerprint},
        )
    return workstation


def facility_deactivate(*, facility: Facility, context: RequestContext) -> Facility:
    """No reviewer of the facility works on: the flag blocks the next request, sessions end now."""
    with transaction.atomic():
        Facility.objects.filter(pk=facility.pk).update(active=False)
        ended = sum(count for _, count in facility_deactivated.send(sender=Facility, facility_id=facility.pk))
        event_record(action="facility.deactivate", context=context, facility_id=facility.pk, extra={"reviewers": ended})
    facility.refresh_from_db()
    return facility


def facility_activate(*, facility: Facility, context: RequestContext) -> Facility:
    with transaction.atomic():
        Facility.objects.filter(pk=facility.pk).update(active=True)
        event_record(action="facility.activate", context=context, facility_id=facility.pk)
    facility.refresh_from_db()
    return facility
