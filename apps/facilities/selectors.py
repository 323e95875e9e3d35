from __future__ import annotations

from apps.facilities.models import Facility


def facility_by_name(*, name: str) -> Facility | None:
    return Facility.objects.filter(name=name).first()


def facility_name(*, facility_id: int) -> str:
    """The facility's current name, or "" for an unknown id (access events keep a snapshot)."""
    return Facility.objects.filter(pk=facility_id).values_list("name", flat=True).first() or ""
