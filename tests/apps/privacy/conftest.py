"""Helpers for the data subject's tests: clips of a subject, a reviewer's lease, events."""

from __future__ import annotations

import pytest

from apps.audit.models import AccessEvent
from apps.audit.services import subject_pseudonym
from apps.clips.models import Clip
from tests.conftest import ingest_clip

SUBJECT = "subject-1"
OTHER = "subject-2"


def add_clip(subject_id: str = SUBJECT, *, seconds: float = 0.2, region: str = "EU", language: str = "de-DE") -> Clip:
    return ingest_clip(subject_id=subject_id, seconds=seconds, region=region, language=language)


def events(action: str, **filters) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(action=action, **filters).order_by("seq"))


def subject_events(subject_id: str, action: str, **filters) -> list[AccessEvent]:
    return events(action, subject_pseudonym=subject_pseudonym(subject_id), **filters)


def lease(client) -> dict:
    response = client.post("/api/v1/review/next")
    assert response.status_code == 200, response.content
    return response.json()


def submit(client, assignment: str, text: str = "hallo welt", flags: list[str] | None = None) -> None:
    response = client.post(
        f"/api/v1/review/assignments/{assignment}/transcript", {"text": text, "flags": flags or []}, format="json"
    )
    assert response.status_code == 201, response.content


@pytest.fixture
def manage_client(scoped_client):
    """A service client holding only ``subjects:manage``."""
    return scoped_client("subjects:manage")
