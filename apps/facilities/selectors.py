from __future__ import annotations

from django.db.models import QuerySet

from apps.facilities.models import Facility, Workstation
from reviewsvc.net import IPNetwork


def facility_by_name(*, name: str) -> Facility | None:
    return Facility.objects.filter(name=name).first()


def facility_name(*, facility_id: int) -> str:
    """The facility's current name, or "" for an unknown id (access events keep a snapshot)."""
    return Facility.objects.filter(pk=facility_id).values_list("name", flat=True).first() or ""


def facility_timezones(*, facility_ids) -> dict[int, str]:
    """Each facility's IANA time zone ("" when none is set), for showing times in local time."""
    return dict(Facility.objects.filter(pk__in=set(facility_ids)).values_list("pk", "timezone"))


def facility_list() -> list[Facility]:
    return list(Facility.objects.order_by("name"))


def facility_get(*, facility_id: int) -> Facility | None:
    return Facility.objects.filter(pk=facility_id).first()


def workstation_enrolled(*, facility_id: int, fingerprint: str | None) -> Workstation | None:
    """The facility's unrevoked workstation holding this certificate, or None."""
    if not fingerprint:
        return None
    return Workstation.objects.filter(facility_id=facility_id, fingerprint=fingerprint, revoked_at=None).first()


def workstation_list(*, facility: Facility | None = None) -> QuerySet[Workstation]:
    rows = Workstation.objects.select_related("facility").order_by("facility__name", "name")
    return rows.filter(facility=facility) if facility is not None else rows


def facility_networks_all() -> list[IPNetwork]:
    """Every network of every active facility: where a reviewer may be at work."""
    networks: list[IPNetwork] = []
    for facility in Facility.objects.filter(active=True).only("networks"):
        networks.extend(facility.parsed_networks())
    return networks
