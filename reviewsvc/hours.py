"""Working hours of a facility: ``Mon-Fri 08:00-18:00``, pure and framework-free.

A spec is one or more comma-separated parts, each a day or day range and a time range:
``Mon-Fri 08:00-18:00, Sat 09:00-13:00``. Ranges are half-open (``18:00`` itself is outside)
and a day range may wrap (``Fri-Mon``). A time range whose end is not after its start is
refused: overnight shifts are written as two parts, so each part reads literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"(?P<first>[A-Za-z]{3})(?:-(?P<last>[A-Za-z]{3}))?\s+"
    r"(?P<start>[0-9]{2}:[0-9]{2})-(?P<end>[0-9]{2}:[0-9]{2})",
    re.ASCII,
)
MAX_SPEC_LENGTH = 200


@dataclass(frozen=True)
class HoursPart:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time


def _day(name: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise ValueError(f"unknown day {name!r}; use Mon..Sun") from None


def _time(text: str) -> time:
    hours, minutes = (int(piece) for piece in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"invalid time {text!r}")
    return time(hours, minutes)


def parse_hours(spec: str) -> tuple[HoursPart, ...]:
    """Parse a spec; raises ValueError naming what is wrong."""
    if len(spec) > MAX_SPEC_LENGTH:
        raise ValueError("hours spec is too long")
    parts = []
    for raw in spec.split(","):
        match = _PART.fullmatch(raw.strip())
        if match is None:
            raise ValueError(f"cannot read {raw.strip()!r}; expected e.g. 'Mon-Fri 08:00-18:00'")
        first = _day(match["first"])
        last = _day(match["last"]) if match["last"] else first
        days = frozenset((first + offset) % 7 for offset in range((last - first) % 7 + 1))
        start, end = _time(match["start"]), _time(match["end"])
        if end <= start:
            raise ValueError(f"{raw.strip()!r}: the end must be after the start")
        parts.append(HoursPart(days=days, start=start, end=end))
    return tuple(parts)


def within_hours(spec: str, tz: str, now: datetime) -> bool:
    """Is the aware moment ``now`` inside the spec, read in the facility's time zone ``tz``?"""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(tz))
    moment = local.time().replace(tzinfo=None)
    return any(local.weekday() in part.days and part.start <= moment < part.end for part in parse_hours(spec))
