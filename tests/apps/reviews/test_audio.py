"""Audio delivery: logged before the first byte, streamed by segment, re-checked on every request."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import ProgrammingError
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Reviewer
from apps.accounts.services import reviewer_suspend
from apps.audit import services as audit_services
from apps.audit.models import PendingEvent
from apps.clips.models import Clip
from apps.common.context import RequestContext
from apps.facilities.models import Facility
from apps.reviews.models import Assignment
from apps.reviews.services import delivery, leases
from reviewsvc.crypto import streaming
from tests.apps.reviews.support import audio_url
from tests.conftest import requires_postgres
from tests.personas import ADDRESS_OUTSIDE, verified_client
from tests.support import body, denied, error_code, events, lease_next, make_wav

pytestmark = pytest.mark.django_db


@pytest.fixture
def leased(alice_client, make_clip):
    """Alice's lease on a 5 s clip (160 kB of WAV: three 64 KiB segments)."""
    clip = make_clip(seconds=5.0)
    lease = lease_next(alice_client)
    assert lease["clip"] == str(clip.id)
    return clip, lease


@pytest.fixture
def original() -> bytes:
    return make_wav(seconds=5.0)


def test_the_leasing_reviewer_hears_the_clip_with_safe_headers(alice_client, leased, original):
    clip, lease = leased
    response = alice_client.get(lease["audio_url"], HTTP_ACCEPT="audio/webm,audio/*;q=0.9")
    assert response.status_code == 200
    assert body(response) == original
    assert response["Content-Type"] == "audio/wav" == clip.mime_type
    assert response["Content-Length"] == str(len(original))
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    assert response["Accept-Ranges"] == "bytes"
    event = events("clip.audio")[-1]
    assert (event.outcome, str(event.clip_id), event.extra["range"]) == (
        "granted",
        lease["clip"],
        [0, len(original) - 1],
    )


def test_the_access_event_is_committed_before_the_first_byte(alice_client, leased):
    _, lease = leased
    response = alice_client.get(lease["audio_url"])
    # The test client has not pulled a single chunk from the stream yet.
    assert events("clip.audio")
    assert body(response)


def test_nothing_is_served_when_the_event_cannot_be_written(alice_client, leased, monkeypatch):
    _, lease = leased
    expires = Assignment.objects.get(pk=lease["assignment"]).expires_at

    def broken(**kwargs):
        raise RuntimeError("access log unavailable")

    monkeypatch.setattr(leases, "event_record", broken)
    chunks_asked = []
    monkeypatch.setattr(delivery, "clip_audio_chunks", lambda **kw: chunks_asked.append(kw) or iter([b"x"]))
    with pytest.raises(RuntimeError, match="access log unavailable"):
        alice_client.get(lease["audio_url"])
    assert chunks_asked == []
    assert not events("clip.audio")
    # The lease extension rolled back with the event.
    assert Assignment.objects.get(pk=lease["assignment"]).expires_at == expires


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_nothing_is_served_when_the_pending_event_fails_at_the_commit(alice_client, leased, monkeypatch, settings):
    # With the sealer the event's INSERT goes in one message with the COMMIT (config/postgresql).
    settings.REVIEWSVC_AUDIT_SEALER = True
    _, lease = leased
    expires = Assignment.objects.get(pk=lease["assignment"]).expires_at
    monkeypatch.setattr(audit_services, "_PENDING_SQL", audit_services._PENDING_SQL.replace("(time,", "(no_such,"))
    chunks_asked = []
    monkeypatch.setattr(delivery, "clip_audio_chunks", lambda **kw: chunks_asked.append(kw) or iter([b"x"]))
    with pytest.raises(ProgrammingError, match="no_such"):
        alice_client.get(lease["audio_url"])
    assert chunks_asked == []
    assert not PendingEvent.objects.filter(action="clip.audio").exists()
    # The commit failed, so the lease extension rolled back with the event.
    assert Assignment.objects.get(pk=lease["assignment"]).expires_at == expires


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100000-100099", 100000, 100100),
        ("bytes=-500", None, None),  # the last 500 bytes
        ("bytes=150000-", 150000, None),
        ("bytes=0-99999999999", 0, None),  # clamped to the end
    ],
)
def test_a_range_answers_206_with_exactly_those_bytes(alice_client, leased, original, header, start, stop):
    _, lease = leased
    response = alice_client.get(lease["audio_url"], HTTP_RANGE=header)
    expected = original[-500:] if start is None else original[start:stop]
    first = len(original) - 500 if start is None else start
    assert response.status_code == 206
    assert body(response) == expected
    assert response["Content-Length"] == str(len(expected))
    assert response["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(original)}"
    assert events("clip.audio")[-1].extra["range"] == [first, first + len(expected) - 1]


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=-0", f"bytes={5 * 32000 + 44}-"])
def test_an_unsatisfiable_range_answers_416_and_serves_nothing(alice_client, leased, original, header):
    _, lease = leased
    response = alice_client.get(lease["audio_url"], HTTP_RANGE=header)
    assert (response.status_code, error_code(response)) == (416, "range_not_satisfiable")
    assert response["Content-Range"] == f"bytes */{len(original)}"
    assert not events("clip.audio")


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=abc", "bytes=" + "9" * 100])
def test_a_header_that_is_not_one_byte_range_is_ignored(alice_client, leased, original, header):
    _, lease = leased
    response = alice_client.get(lease["audio_url"], HTTP_RANGE=header)
    assert response.status_code == 200
    assert body(response) == original


def test_a_range_decrypts_only_the_segments_it_touches(alice_client, leased, monkeypatch):
    _, lease = leased
    opened: list[int] = []

    class CountingAESGCM:
        def __init__(self, key):
            self.inner = AESGCM(key)

        def __getattr__(self, name):
            method = getattr(self.inner, name)
            if not name.startswith("decrypt"):
                return method

            def counted(nonce, *args):
                opened.append(int.from_bytes(nonce[7:11], "big"))  # the segment index in the nonce
                return method(nonce, *args)

            return counted

    monkeypatch.setattr(streaming, "AESGCM", CountingAESGCM)
    segment = streaming.SEGMENT_SIZE
    body(alice_client.get(lease["audio_url"], HTTP_RANGE=f"bytes={segment + 10}-{segment + 20}"))
    assert opened == [1]
    opened.clear()
    body(alice_client.get(lease["audio_url"]))
    assert opened == [0, 1, 2]


def test_each_audio_request_extends_the_lease(alice_client, leased):
    _, lease = leased
    with time_machine.travel(timezone.now() + timedelta(minutes=9)):
        assert alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=0-1").status_code == 206
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        assert alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=2-3").status_code == 206


# --- Between two Range requests: each cause refuses the next one, with its code and event -----
def first_half(client, lease) -> None:
    response = client.get(lease["audio_url"], HTTP_RANGE="bytes=0-65535")
    assert response.status_code == 206
    assert len(body(response)) == 65536


def test_an_opt_out_between_two_ranges_refuses_the_next(alice_client, leased, service_client):
    clip, lease = leased
    first_half(alice_client, lease)
    assert service_client.put(f"/api/v1/subjects/{clip.subject_id}/opt-out").json()["withdrawn"] == 1
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "subject_opted_out")
    event = denied("clip.audio", "subject_opted_out")[-1]
    assert str(event.clip_id) == lease["clip"]
    assert Assignment.objects.get(pk=lease["assignment"]).status == "revoked"


def test_a_suspension_between_two_ranges_refuses_the_next(alice_client, leased, alice):
    _, lease = leased
    first_half(alice_client, lease)
    Reviewer.objects.filter(pk=alice.reviewer.pk).update(status="suspended")
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "account_suspended")
    assert events("request.denied", reason="account_suspended")


def test_suspending_through_the_service_ends_the_session_before_the_next_range(alice_client, leased, alice):
    _, lease = leased
    first_half(alice_client, lease)
    reviewer_suspend(email=alice.username, context=RequestContext.system("tests"))
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (401, "authentication_required")
    assert len(events("clip.audio", outcome="granted")) == 1


def test_an_expired_lease_between_two_ranges_refuses_the_next(alice_client, leased):
    clip, lease = leased
    first_half(alice_client, lease)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "lease_expired")
    assert denied("clip.audio", "lease_expired")
    clip.refresh_from_db()
    assert clip.status == "queued"
    assert Assignment.objects.get(pk=lease["assignment"]).status == "expired"


def test_a_reviewer_moved_to_another_facility_is_refused_at_the_next_range(alice_client, leased, alice, facility_b):
    _, lease = leased
    first_half(alice_client, lease)
    Reviewer.objects.filter(pk=alice.reviewer.pk).update(facility=facility_b)
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
    assert events("request.denied", reason="outside_facility_network")


def test_a_deactivated_facility_is_refused_at_the_next_range(alice_client, leased, facility_a):
    _, lease = leased
    first_half(alice_client, lease)
    Facility.objects.filter(pk=facility_a.pk).update(active=False)
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "facility_inactive")
    assert events("request.denied", reason="facility_inactive")


def test_a_session_replayed_from_outside_the_network_is_refused(alice_client, leased):
    _, lease = leased
    first_half(alice_client, lease)
    alice_client.defaults["REMOTE_ADDR"] = ADDRESS_OUTSIDE
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
    event = events("request.denied", reason="outside_facility_network")[-1]
    assert event.client_address == ADDRESS_OUTSIDE


def test_a_forwarded_for_header_does_not_move_an_outside_caller_inside(alice, leased):
    _, lease = leased
    client = verified_client(alice, address=ADDRESS_OUTSIDE)
    response = client.get(lease["audio_url"], HTTP_X_FORWARDED_FOR="10.1.2.3", HTTP_X_REAL_IP="10.1.2.3")
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")


def test_a_region_no_longer_approved_is_refused_at_the_next_range(alice_client, leased, facility_a):
    _, lease = leased
    first_half(alice_client, lease)
    Facility.objects.filter(pk=facility_a.pk).update(regions=["US"])
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "region_not_approved")
    assert denied("clip.audio", "region_not_approved")


def test_expired_vetting_is_refused_at_the_next_range(alice_client, leased, alice):
    _, lease = leased
    first_half(alice_client, lease)
    Reviewer.objects.filter(pk=alice.reviewer.pk).update(vetted_until=timezone.localdate() - timedelta(days=1))
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=65536-")
    assert (response.status_code, error_code(response)) == (403, "vetting_expired")
    assert events("request.denied", reason="vetting_expired")


@pytest.mark.parametrize("status", ["deleted", "expired", "withdrawn"])
def test_a_clip_that_is_gone_answers_410(alice_client, leased, status):
    clip, lease = leased
    Clip.objects.filter(pk=clip.pk).update(status=status)
    response = alice_client.get(lease["audio_url"])
    assert (response.status_code, error_code(response)) == (410, "clip_gone")
    assert denied("clip.audio", "clip_gone")


def test_a_shredded_clip_answers_410(alice_client, leased):
    clip, lease = leased
    # The key gone while the clip still shows as assigned: no status change does that, so the row is
    # written directly, to show the delivery checks the key itself.
    Clip.objects.filter(pk=clip.pk).update(wrapped_key=None, key_version=None)
    response = alice_client.get(lease["audio_url"])
    assert (response.status_code, error_code(response)) == (410, "clip_gone")


# --- Hostile replays --------------------------------------------------------------------------
def test_the_audio_url_does_not_work_after_logout(alice_client, leased):
    _, lease = leased
    assert alice_client.post("/api/v1/auth/logout").status_code == 204
    response = alice_client.get(lease["audio_url"])
    assert response.status_code == 401
    assert not events("clip.audio", outcome="granted")


def test_the_audio_url_does_not_work_for_another_reviewer(leased, bob_client, facility_a, alice):
    _, lease = leased
    from tests.personas import make_reviewer

    colleague = make_reviewer(email="erin@facility-a.example", facility=facility_a, address="10.1.9.9")
    for client in (bob_client, verified_client(colleague)):
        response = client.get(lease["audio_url"] + f"?reviewer={alice.user.pk}")
        assert (response.status_code, error_code(response)) == (404, "not_found")
    assert len(denied("clip.audio", "not_found")) == 2


def test_the_audio_url_does_not_work_without_a_session(leased):
    _, lease = leased
    response = APIClient(REMOTE_ADDR="10.1.2.3").get(lease["audio_url"])
    assert response.status_code == 401


@pytest.mark.parametrize(("ending", "status"), [("release", 200), ("transcript", 201)])
def test_the_audio_url_does_not_work_after_the_lease_ended(alice_client, leased, ending, status):
    _, lease = leased
    url = lease["audio_url"].removesuffix("audio") + ending
    assert alice_client.post(url, {"text": "hallo"}, format="json").status_code == status
    response = alice_client.get(lease["audio_url"])
    assert (response.status_code, error_code(response)) == (403, "lease_expired")
    assert denied("clip.audio", "lease_expired")


def test_an_unknown_audio_id_is_not_found(alice_client, leased):
    response = alice_client.get(audio_url(uuid.uuid4()))
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_it_caps_audio_requests_per_hour(alice_client, leased, settings):
    _, lease = leased
    settings.REVIEWSVC_AUDIO_REQUESTS_PER_HOUR = 2
    assert alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=0-1").status_code == 206
    assert alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=2-3").status_code == 206
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=4-5")
    assert (response.status_code, error_code(response)) == (429, "rate_limited")
    assert denied("clip.audio", "rate_limited")[-1].extra == {"limit": 2, "kind": "audio"}


def test_an_audio_request_the_policy_refuses_still_counts_against_the_hourly_cap(alice_client, leased, settings):
    _, lease = leased
    settings.REVIEWSVC_AUDIO_REQUESTS_PER_HOUR = 1
    assert alice_client.get(audio_url(uuid.uuid4())).status_code == 404
    response = alice_client.get(lease["audio_url"], HTTP_RANGE="bytes=0-1")
    assert (response.status_code, error_code(response)) == (429, "rate_limited")


def test_a_blob_and_key_moved_from_another_clip_fail_and_raise_an_alert(alice_client, make_clip, settings):
    settings.REVIEWSVC_ALERT_AUTO_SUSPEND = True
    victim = make_clip(subject_id="victim", seconds=5.0)
    lease = lease_next(alice_client)
    assert lease["clip"] == str(victim.id)
    other = make_clip(subject_id="other", seconds=5.0)
    Clip.objects.filter(pk=victim.pk).update(blob_name=other.blob_name, wrapped_key=other.wrapped_key)
    response = alice_client.get(lease["audio_url"])
    assert (response.status_code, error_code(response)) == (500, "internal_error")
    alert = events("alert.decryption_failed")
    assert [str(a.clip_id) for a in alert] == [lease["clip"]]
    # The listener did nothing wrong: no automatic suspension for a damaged clip.
    assert not events("reviewer.suspend")


def test_a_segment_damaged_on_disk_stops_the_stream_and_raises_an_alert(alice_client, leased):
    from apps.clips.services import clip_storage

    clip, lease = leased
    path = clip_storage().path(clip.blob_name)
    with open(path, "r+b") as blob:
        blob.seek(streaming.HEADER_SIZE + 2 * (streaming.SEGMENT_SIZE + streaming.TAG_SIZE) + 5)
        byte = blob.read(1)
        blob.seek(-1, 1)
        blob.write(bytes([byte[0] ^ 1]))
    response = alice_client.get(lease["audio_url"])
    assert response.status_code == 200
    with pytest.raises(Exception, match="internal_error"):
        body(response)
    assert events("alert.decryption_failed")


def _cut(path, *, keep: int) -> None:
    with open(path, "r+b") as blob:
        blob.truncate(keep)


def _drop_segment(path, index: int) -> None:
    stride = streaming.SEGMENT_SIZE + streaming.TAG_SIZE
    with open(path, "rb") as blob:
        data = blob.read()
    start = streaming.HEADER_SIZE + index * stride
    with open(path, "wb") as blob:
        blob.write(data[:start] + data[start + stride :])


@pytest.mark.parametrize(
    ("damage", "range_header"),
    [
        (lambda path, size: _cut(path, keep=size - 7), None),
        (lambda path, size: _cut(path, keep=size - 7), "bytes=0-99"),
        (lambda path, size: _drop_segment(path, 1), None),
        (lambda path, size: _drop_segment(path, 1), "bytes=0-99"),
    ],
    ids=["truncated", "truncated-range", "segment-dropped", "segment-dropped-range"],
)
def test_a_truncated_or_segment_dropped_blob_is_refused_and_raises_the_decryption_alert(
    alice_client, leased, damage, range_header
):
    from apps.clips.services import clip_storage

    clip, lease = leased
    path = clip_storage().path(clip.blob_name)
    damage(path, clip_storage().size(clip.blob_name))
    headers = {"HTTP_RANGE": range_header} if range_header else {}

    response = alice_client.get(lease["audio_url"], **headers)

    assert (response.status_code, error_code(response)) == (500, "internal_error")
    assert [str(a.clip_id) for a in events("alert.decryption_failed")] == [lease["clip"]]
