"""A web process killed while it streams a clip leaves the lease and the access log as they
were the moment before: the event of the request, one active lease, and nothing else."""

from __future__ import annotations

import pytest

from apps.audit.models import AccessEvent
from apps.audit.selectors import audit_log_verify
from apps.reviews.models import Assignment
from tests.conftest import die, killed_midway, requires_postgres
from tests.support import NEXT

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_a_web_process_killed_mid_stream_leaves_its_lease_and_event_consistent(alice, alice_client, make_clip):
    clip = make_clip(seconds=5.0)
    lease = alice_client.post(NEXT).json()

    def stream_one_segment_then_die() -> None:
        response = alice_client.get(lease["audio_url"])
        assert next(iter(response.streaming_content))
        die()

    killed_midway(stream_one_segment_then_die)

    [event] = AccessEvent.objects.filter(action="clip.audio", clip_id=clip.id)
    assert event.outcome == "granted"
    [assignment] = Assignment.objects.filter(clip=clip)
    assert assignment.status == "active"
    assert assignment.reviewer_id == alice.user.pk
    assert assignment.plays == 1
    assert audit_log_verify().ok
    # The reviewer carries on with the same lease, from the start of the clip.
    assert alice_client.post(NEXT).json()["assignment"] == lease["assignment"]
    assert alice_client.get(lease["audio_url"]).status_code == 200
    assert AccessEvent.objects.filter(action="clip.audio", clip_id=clip.id).count() == 2
