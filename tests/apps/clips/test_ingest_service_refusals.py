"""The ingest service's own refusals, for callers other than the API (which checks first)."""

from __future__ import annotations

import pytest

from apps.clips import services
from apps.clips.models import Clip
from apps.clips.services import clip_ingest, register_blob_referrer
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError

pytestmark = pytest.mark.django_db


def ingest(audio: bytes, *, region: str = "EU") -> Clip:
    return clip_ingest(
        audio=audio,
        subject_id="subject-1",
        language="en-US",
        region=region,
        activation="deliberate",
        captured_at=None,
        api_key=None,
        context=RequestContext.system("tests"),
    )


def test_it_refuses_a_region_it_does_not_know(wav_bytes):
    with pytest.raises(ServiceError) as refused:
        ingest(wav_bytes, region="XX")
    assert refused.value.code == "validation_error"
    assert not Clip.objects.exists()


def test_it_refuses_audio_over_the_size_limit(wav_bytes, settings):
    settings.REVIEWSVC_MAX_UPLOAD_BYTES = len(wav_bytes) - 1
    with pytest.raises(ServiceError) as refused:
        ingest(wav_bytes)
    assert refused.value.code == "payload_too_large"
    assert not Clip.objects.exists()


def test_a_blob_referrer_registered_twice_is_asked_once(monkeypatch):
    monkeypatch.setattr(services, "_blob_referrers", [])

    def referrer(names: list[str]) -> set[str]:
        return set()

    register_blob_referrer(referrer)
    register_blob_referrer(referrer)
    assert services._blob_referrers == [referrer]
