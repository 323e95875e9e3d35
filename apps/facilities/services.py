"""Facilities: created by the operator, changed and (de)activated by an admin; deactivation ends
its sessions (through ``facility_deactivated``, which the accounts app answers)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.regions import regions_unknown, regions_unknown_message
from apps.facilities.models import Facility
from apps.facilities.signals import facility_deactivated
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
    context: RequestContext,
) -> Facility:
    facility = Facility(
        **_normalised(name=name, country=country, networks=networks, regions=regions, timezone=timezone, hours=hours)
    )
    _full_clean(facility)
    with transaction.atomic():
        facility.save()
        event_record(
            action="facility.create",
            context=context,
            facility_id=facility.pk,
            extra={"name": facility.name, "country": facility.country, "regions": facility.regions},
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
