"""Working hours: ``Mon-Fri 08:00-18:00`` in the facility's zone."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from reviewsvc.hours import HoursPart, parse_hours, within_hours

BERLIN = "Europe/Berlin"


def test_it_parses_day_ranges_and_times():
    assert parse_hours("Mon-Fri 08:00-18:00") == (HoursPart(days=frozenset(range(5)), start=time(8), end=time(18)),)
    assert parse_hours("sat 09:30-13:00, Sun 10:00-24:00")[1].end == time.max
    assert parse_hours("Fri-Mon 08:00-09:00")[0].days == frozenset({4, 5, 6, 0})


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Mon-Fri",
        "Mon-Fri 8-18",
        "Mon-Xyz 08:00-18:00",
        "Mon 18:00-08:00",
        "Mon 25:00-26:00",
        "Mon 08:60-09:00",
        "Mon 08:00-18:00;rm",
        "Mon 08:00-08:00",
        "Mon-Fri ０８:00-18:00",
        "Mon 08:00-09:00," * 20,
    ],
)
def test_it_refuses_what_it_cannot_read_literally(spec):
    with pytest.raises(ValueError, match=r"."):
        parse_hours(spec)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), True),  # Monday 08:00 in Berlin (CET, UTC+1)
        (datetime(2026, 11, 23, 6, 59, tzinfo=UTC), False),  # 07:59
        (datetime(2026, 11, 23, 17, 0, tzinfo=UTC), False),  # 18:00 is outside: half-open
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 7, 6, 6, 30, tzinfo=UTC), True),  # Monday 08:30 in summer time (UTC+2)
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), False),  # Monday 00:30 in Berlin, Sunday in UTC
    ],
)
def test_it_reads_the_clock_in_the_facilitys_zone(moment, inside):
    assert within_hours("Mon-Fri 08:00-18:00", BERLIN, moment) is inside


def test_it_refuses_a_naive_moment():
    with pytest.raises(ValueError, match="aware"):
        within_hours("Mon-Fri 08:00-18:00", BERLIN, datetime(2026, 11, 23, 9, 0))  # noqa: DTZ001
