"""Fixtures of the review workflow's tests: clips in the queue, a clean cache per test."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.clips.models import Clip
from apps.clips.services import clip_ingest
from apps.common.context import RequestContext
from tests.conftest import make_wav


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

    def make(
        *, subject_id: str = "subject-1", language: str = "de-DE", region: str = "EU", seconds: float = 1.0
    ) -> Clip:
        return clip_ingest(
            audio=make_wav(seconds=seconds),
            subject_id=subject_id,
            language=language,
            region=region,
            activation="deliberate",
            captured_at=None,
            api_key=None,
            context=RequestContext.system("tests"),
        )

    return make
