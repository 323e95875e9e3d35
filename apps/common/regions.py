"""The data-residency regions this deployment processes (REVIEWSVC_REGIONS): the one allow-list
that facilities, ingest and its API check against."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings


def regions_allowed() -> tuple[str, ...]:
    return tuple(settings.REVIEWSVC_REGIONS)


def regions_unknown(regions: Iterable[str]) -> list[str]:
    """The given regions outside the allow-list, sorted; empty when all are allowed."""
    return sorted(set(regions) - set(regions_allowed()))


def regions_unknown_message(unknown: list[str]) -> str:
    return f"Unknown regions {unknown}; allowed: {list(regions_allowed())}."


def region_choice_message() -> str:
    return f"Must be one of {', '.join(regions_allowed())}."
