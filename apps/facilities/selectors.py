from __future__ import annotations

from apps.facilities.models import Facility


def facility_by_name(*, name: str) -> Facility | None:
    return Facility.objects.filter(name=name).first()
