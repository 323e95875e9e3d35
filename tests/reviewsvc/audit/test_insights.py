"""How much of a clip was heard, and when a day stands out against its own baseline."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewsvc.audit.insights import BASELINE_DAYS, FLOORS, baseline_flag, bytes_heard, merged_ranges


def test_overlapping_and_touching_ranges_count_once():
    assert merged_ranges([(500, 999), (0, 499), (250, 749)]) == [(0, 999)]
    assert merged_ranges([(0, 9), (20, 29)]) == [(0, 9), (20, 29)]
    assert bytes_heard([(0, 499), (250, 749), (0, 99)]) == 750


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="ends before"):
        bytes_heard([(10, 9)])


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 50)), max_size=20))
def test_bytes_heard_is_the_size_of_the_union(spans):
    ranges = [(start, start + length) for start, length in spans]
    covered = set()
    for first, last in ranges:
        covered.update(range(first, last + 1))
    assert bytes_heard(ranges) == len(covered)


def test_a_steady_history_does_not_flag_an_ordinary_day():
    result = baseline_flag(metric="plays", today=43, history=[40] * BASELINE_DAYS)
    assert (result.flagged, result.mean, result.deviation, result.threshold) == (False, 40.0, 1.0, 43.0)
    assert baseline_flag(metric="plays", today=44, history=[40] * BASELINE_DAYS).flagged is True


def test_a_small_count_is_never_flagged_however_unusual():
    assert baseline_flag(metric="denials", today=FLOORS["denials"] - 1, history=[0] * BASELINE_DAYS).flagged is False
    assert baseline_flag(metric="denials", today=FLOORS["denials"], history=[0] * BASELINE_DAYS).flagged is True


def test_a_noisy_history_raises_the_bar():
    history = [0, 60] * (BASELINE_DAYS // 2)
    result = baseline_flag(metric="plays", today=100, history=history)
    assert (result.mean, result.deviation) == (30.0, 30.0)
    assert result.flagged is False
    assert baseline_flag(metric="plays", today=121, history=history).flagged is True


def test_a_baseline_needs_exactly_fourteen_days():
    with pytest.raises(ValueError, match="14 days"):
        baseline_flag(metric="plays", today=1, history=[0] * 13)
