"""Subject status: opt-out state and clip counts by status."""

from __future__ import annotations

import pytest

from apps.clips.models import ClipStatus
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip
from tests.support import lease_next

pytestmark = pytest.mark.django_db

URL = f"/api/v1/subjects/{SUBJECT}"


def test_it_counts_the_subjects_clips_by_status(service_client, alice_client):
    add_clip(), add_clip(), add_clip()
    add_clip(OTHER)
    lease_next(alice_client)

    body = service_client.get(URL).json()

    assert body["subject_id"] == SUBJECT
    assert body["opted_out"] is False
    assert body["opted_out_at"] is None
    assert body["clips"] == {status: 0 for status in ClipStatus.values} | {"queued": 2, "assigned": 1}


def test_it_shows_the_opt_out_and_the_withdrawn_clips(service_client):
    add_clip(), add_clip()
    service_client.put(f"{URL}/opt-out")

    body = service_client.get(URL).json()

    assert body["opted_out"] is True
    assert body["opted_out_at"] is not None
    assert body["clips"]["withdrawn"] == 2
    assert body["clips"]["queued"] == 0


def test_an_unknown_subject_is_not_opted_out_and_has_no_clips(service_client):
    response = service_client.get("/api/v1/subjects/never-seen")

    assert response.status_code == 200
    assert response.json() == {
        "subject_id": "never-seen",
        "opted_out": False,
        "opted_out_at": None,
        "clips": dict.fromkeys(ClipStatus.values, 0),
    }


def test_it_refuses_a_key_without_the_subjects_scope(scoped_client):
    add_clip()

    response = scoped_client("clips:ingest", "transcripts:read").get(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"


def test_it_refuses_a_reviewer_session(alice_client):
    add_clip()

    response = alice_client.get(URL)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "authentication_required")
    assert "clips" not in response.json()


def test_it_refuses_a_malformed_subject_id(service_client):
    assert service_client.get("/api/v1/subjects/bad%20id").status_code == 400
