"""Pure computations behind the auditors' console: how much of a clip was heard, and baselines.

How much was heard
    ``bytes_heard`` merges the byte ranges of every delivery (inclusive ``[first, last]`` pairs,
    as ``clip.audio`` events store them), so a clip fetched twice, or in overlapping ranges,
    counts once: what matters to a data-protection officer is how much of the recording a
    person could have listened to, not how many requests they made.

Baselines
    ``baseline_flag`` compares one day's count of an activity (plays, denials, off-hours access)
    with the same person's or facility's previous ``BASELINE_DAYS`` days. A day is flagged when
    it reaches the metric's floor *and* exceeds the mean by ``SIGMAS`` standard deviations,
    with the deviation taken as at least ``MIN_DEVIATION`` so a perfectly regular history does
    not flag the first small wobble. Days with no activity count as zero. The floor keeps
    small numbers quiet: a reviewer with no denials in two weeks and one today is not news.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BASELINE_DAYS = 14
SIGMAS = 3.0
MIN_DEVIATION = 1.0
# The smallest count of a day that can be flagged, per metric.
FLOORS = {"plays": 20, "denials": 5, "off_hours": 3}


def merged_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive byte ranges merged where they overlap or touch, in order."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if last < first:
            raise ValueError(f"range [{first}, {last}] ends before it starts")
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def bytes_heard(ranges: Iterable[tuple[int, int]]) -> int:
    return sum(last - first + 1 for first, last in merged_ranges(ranges))


@dataclass(frozen=True)
class Baseline:
    metric: str
    today: int
    mean: float
    deviation: float
    threshold: float
    flagged: bool


def baseline_flag(*, metric: str, today: int, history: Sequence[int]) -> Baseline:
    """Whether ``today`` stands out against ``history`` (the previous days, oldest first)."""
    if len(history) != BASELINE_DAYS:
        raise ValueError(f"a baseline needs {BASELINE_DAYS} days of history, not {len(history)}")
    mean = sum(history) / BASELINE_DAYS
    deviation = max(math.sqrt(sum((count - mean) ** 2 for count in history) / BASELINE_DAYS), MIN_DEVIATION)
    threshold = max(mean + SIGMAS * deviation, FLOORS[metric])
    return Baseline(
        metric=metric,
        today=today,
        mean=round(mean, 2),
        deviation=round(deviation, 2),
        threshold=round(float(threshold), 2),
        flagged=today >= FLOORS[metric] and today > mean + SIGMAS * deviation,
    )
