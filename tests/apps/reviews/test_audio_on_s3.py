"""Audio delivery from an S3 bucket: a Range request fetches only the segments it touches."""

from __future__ import annotations

import pytest

from apps.clips.services import clip_storage
from reviewsvc.crypto import streaming
from tests.support import NEXT, body, make_wav

pytestmark = [pytest.mark.django_db, pytest.mark.s3]

SEGMENT_ON_STORE = streaming.SEGMENT_SIZE + streaming.TAG_SIZE


@pytest.fixture
def fetched_bytes(s3_clip_storage) -> list[int]:
    """Body bytes of every GetObject the clip storage's S3 client answers, in order."""
    sizes: list[int] = []
    client = clip_storage().connection.meta.client
    client.meta.events.register(
        "after-call.s3.GetObject", lambda parsed, **kwargs: sizes.append(int(parsed["ContentLength"]))
    )
    return sizes


@pytest.fixture
def leased_on_s3(alice_client, make_clip, fetched_bytes):
    """Alice's lease on a 20 s clip stored on S3 (640 kB of WAV: ten 64 KiB segments)."""
    clip = make_clip(seconds=20.0)
    lease = alice_client.post(NEXT).json()
    assert lease["clip"] == str(clip.id)
    return clip, lease


def test_a_range_request_fetches_only_the_header_and_the_segments_it_touches(alice_client, leased_on_s3, fetched_bytes):
    clip, lease = leased_on_s3
    original = make_wav(seconds=20.0)
    start = 3 * streaming.SEGMENT_SIZE + 100
    stop = start + 2 * streaming.SEGMENT_SIZE  # crosses into a third segment
    fetched_bytes.clear()

    response = alice_client.get(lease["audio_url"], HTTP_RANGE=f"bytes={start}-{stop - 1}")

    assert response.status_code == 206
    assert body(response) == original[start:stop]
    assert fetched_bytes == [streaming.HEADER_SIZE] + [SEGMENT_ON_STORE] * 3
    assert sum(fetched_bytes) < clip_storage().size(clip.blob_name) / 3


def test_the_whole_clip_streams_from_s3_segment_by_segment(alice_client, leased_on_s3, fetched_bytes):
    clip, lease = leased_on_s3
    fetched_bytes.clear()

    response = alice_client.get(lease["audio_url"])

    assert body(response) == make_wav(seconds=20.0)
    assert sum(fetched_bytes) == clip_storage().size(clip.blob_name)
    assert max(fetched_bytes) <= SEGMENT_ON_STORE


def test_django_storages_own_file_would_download_the_whole_object_for_one_range(leased_on_s3, fetched_bytes):
    """Why delivery does not read through ``Storage.open``: S3File fetches everything on first read."""
    clip, _ = leased_on_s3
    fetched_bytes.clear()

    with clip_storage().open(clip.blob_name, "rb") as whole:
        whole.read(streaming.HEADER_SIZE)

    assert sum(fetched_bytes) == clip_storage().size(clip.blob_name)
