"""Facilities: created by the operator, deactivated by an admin; deactivation ends its sessions
(through ``facility_deactivated``, which the accounts app answers)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.facilities.models import Facility
from apps.facilities.signals import facility_deactivated
from reviewsvc.errors import ServiceError
from reviewsvc.net import parse_networks


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
    try:
        # Stored in canonical form (``10.1.0.0/16``; IPv4-mapped IPv6 as IPv4).
        canonical = [str(net) for net in parse_networks(networks)]
    except ValueError as exc:
        raise ServiceError("validation_error", f"Invalid network: {exc}") from None
    wanted = sorted({region.strip() for region in regions})
    unknown = sorted(set(wanted) - set(settings.REVIEWSVC_REGIONS))
    if unknown:
        raise ServiceError("validation_error", f"Unknown regions {unknown}; allowed: {settings.REVIEWSVC_REGIONS}.")
    facility = Facility(
        name=name.strip(),
        country=country.strip().upper(),
        networks=canonical,
        regions=wanted,
        timezone=timezone.strip(),
        hours=hours.strip(),
    )
    try:
        facility.full_clean()
    except DjangoValidationError as exc:
        raise ServiceError("validation_error", "; ".join(exc.messages), details=exc.message_dict) from None
    with transaction.atomic():
        facility.save()
        event_record(
            action="facility.create",
            context=context,
            facility_id=facility.pk,
            extra={"name": facility.name, "country": facility.country, "regions": facility.regions},
        )
    return facility


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
