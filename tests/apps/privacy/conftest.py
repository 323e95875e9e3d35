"""Helpers for the data subject's tests: clips of a subject and its events."""

from __future__ import annotations

import pytest

from apps.audit.models import AccessEvent
from apps.audit.services import subject_pseudonym
from apps.clips.models import Clip
from tests.support import events, ingest_clip

SUBJECT = "subject-1"
OTHER = "subject-2"


def add_clip(subject_id: str = SUBJECT, *, seconds: float = 0.2, region: str = "EU", language: str = "de-DE") -> Clip:
    return ingest_clip(subject_id=subject_id, seconds=seconds, region=region, language=language)


def subject_events(subject_id: str, action: str, **filters) -> list[AccessEvent]:
    return events(action, subject_pseudonym=subject_pseudonym(subject_id), **filters)


@pytest.fixture
def manage_client(scoped_client):
    """A service client holding only ``subjects:manage``."""
    return scoped_client("subjects:manage")
