"""Fixtures of the review workflow's tests: clips in the queue, a clean cache per test."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.support import ingest_clip


@pytest.fixture(autouse=True)
def _fresh_counters_and_quiet_hours(settings):
    # Rate-limit and alert counters live in the cache; each test starts from zero. The
    # working-hours rule has its own tests: elsewhere the wall clock must not decide an outcome.
    settings.REVIEWSVC_ALERT_OUTSIDE_HOURS = False
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_clip(db):
    """``make_clip(subject_id=..., language=..., region=..., seconds=...)`` ingests one clip."""
    return ingest_clip
