"""Refused uploads and invalid API keys are events, capped per client address so a flood cannot
fill the log."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AccessEvent
from tests.support import make_wav

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def denied(action: str) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(action=action, outcome="denied").order_by("seq"))


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (lambda ingest: ingest(language="german"), 400, "validation_error"),
        (lambda ingest: ingest(audio=b"%PDF-1.7 not audio" * 10), 415, "unsupported_media_type"),
        (lambda ingest: ingest(activation="accidental"), 422, "accidental_activation"),
    ],
    ids=["400", "415", "422"],
)
def test_a_refused_upload_writes_one_denied_event_with_nothing_of_the_upload(ingest, upload, status, code):
    response = upload(ingest)

    assert response.status_code == status
    [event] = denied("clip.ingest")
    assert (event.reason, event.actor_kind, event.actor_label) == (code, "api_key", "product-backend")
    assert event.extra == {"status": status, "api_key": "product-backend"}
    assert event.subject_pseudonym == ""


def test_an_upload_for_an_opted_out_subject_is_a_denied_event(ingest, service_client):
    assert service_client.put("/api/v1/subjects/subject-1/opt-out").status_code == 200
    assert ingest().status_code == 409
    [event] = denied("clip.ingest")
    assert event.reason == "subject_opted_out"


def test_an_upload_over_the_cap_is_a_denied_event(ingest, settings):
    settings.REVIEWSVC_MAX_UPLOAD_BYTES = 10_000
    assert ingest(audio=make_wav(seconds=1.0)).status_code == 413
    [event] = denied("clip.ingest")
    assert event.reason == "payload_too_large"


def test_an_invalid_api_key_is_a_denied_event_that_holds_nothing_of_the_key():
    secret = "rsk_" + "Q" * 43
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    assert client.get("/api/v1/subjects/subject-1").status_code == 401

    [event] = denied("api_key.invalid")
    assert (event.reason, event.client_address, event.extra) == (
        "invalid_credentials",
        "198.51.100.7",
        {"path": "/api/v1/subjects/subject-1"},
    )
    assert "Q" * 10 not in str(list(AccessEvent.objects.values_list()))


def test_past_the_cap_one_summary_event_per_window_and_then_nothing(settings):
    settings.REVIEWSVC_REFUSAL_EVENTS_PER_WINDOW = 3
    settings.REVIEWSVC_REFUSAL_WINDOW_SECONDS = 60
    flooder = APIClient(REMOTE_ADDR="198.51.100.7")
    flooder.credentials(HTTP_AUTHORIZATION="Api-Key rsk_wrong")
    other = APIClient(REMOTE_ADDR="198.51.100.8")
    other.credentials(HTTP_AUTHORIZATION="Api-Key rsk_wrong")
    start = timezone.now().replace(second=1, microsecond=0)

    with time_machine.travel(start, tick=False):
        for _ in range(50):
            assert flooder.get("/api/v1/subjects/s").status_code == 401
        assert other.get("/api/v1/subjects/s").status_code == 401

    assert [e.client_address for e in denied("api_key.invalid")] == ["198.51.100.7"] * 3 + ["198.51.100.8"]
    [capped] = denied("audit.refusals_capped")
    assert (capped.client_address, capped.reason) == ("198.51.100.7", "rate_capped")
    assert capped.extra["action"] == "api_key.invalid"
    assert (capped.extra["cap"], capped.extra["window_seconds"]) == (3, 60)
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        assert flooder.get("/api/v1/subjects/s").status_code == 401
    assert len(denied("api_key.invalid")) == 5


@pytest.fixture
def counters_down(settings):
    """The counters' store (Redis) unreachable: nothing listens on port 1."""
    live = settings.REDIS_URL, settings.CACHES
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": settings.REDIS_URL}
    }
    yield
    # Back before the other fixtures' teardown, which empties the live counters.
    settings.REDIS_URL, settings.CACHES = live


def test_with_the_counters_down_a_refused_upload_keeps_its_answer_and_its_event(ingest, service_client, counters_down):
    assert service_client.put("/api/v1/subjects/subject-1/opt-out").status_code == 200
    response = ingest()
    assert (response.status_code, response.json()["error"]["code"]) == (409, "subject_opted_out")
    [event] = denied("clip.ingest")
    assert event.reason == "subject_opted_out"


def test_with_the_counters_down_an_invalid_key_is_still_refused_and_logged(counters_down):
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    client.credentials(HTTP_AUTHORIZATION="Api-Key rsk_wrong")
    assert client.get("/api/v1/subjects/s").status_code == 401
    assert [e.client_address for e in denied("api_key.invalid")] == ["198.51.100.7"]
