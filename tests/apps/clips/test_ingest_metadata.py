"""Uploaded audio reaches reviewers as audio only; a duration the data cannot back is 400."""

from __future__ import annotations

import pytest

from apps.clips.models import Clip
from tests.reviewsvc.audio.test_audio_clean import SECRETS, opus, tagged_flac, tagged_wav
from tests.reviewsvc.audio.test_audio_probe import ogg_page
from tests.support import NEXT, body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("upload", [tagged_wav, tagged_flac], ids=["wav-list-info", "flac-comments-picture"])
def test_container_metadata_never_reaches_the_reviewer(ingest, alice_client, upload):
    audio = upload()
    response = ingest(audio=audio)
    assert response.status_code == 201, response.content

    lease = alice_client.post(NEXT).json()
    heard = body(alice_client.get(lease["audio_url"]))

    for secret in SECRETS:
        assert secret not in heard
    clip = Clip.objects.get()
    assert clip.size_bytes == len(heard) < len(audio)


def test_an_ogg_claiming_ten_to_the_fifteen_milliseconds_is_a_validation_error_and_nothing_is_stored(ingest):
    honest = opus()
    last = ogg_page(bytes([0xF8, 0xFF, 0xFE]) * 60, sequence=51, granule=0, flags=4)
    lying = honest[: -len(last)] + ogg_page(bytes([0xF8, 0xFF, 0xFE]) * 60, sequence=51, granule=10**15 * 48, flags=4)

    response = ingest(audio=lying)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Clip.objects.exists()
