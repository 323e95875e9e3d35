"""The queue: the oldest eligible clip, one lease per reviewer, leases that end and come back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.clips.models import Clip
from apps.reviews.models import Assignment
from apps.reviews.tasks import expire_leases
from tests.apps.reviews.support import assignment_url
from tests.personas import ADDRESS_OUTSIDE, verified_client
from tests.support import NEXT, denied, error_code, events, lease_next

pytestmark = pytest.mark.django_db


def test_it_leases_the_oldest_eligible_clip_and_shows_nothing_about_the_subject(alice_client, make_clip):
    oldest = make_clip(subject_id="subject-old")
    make_clip(subject_id="subject-new")
    response = alice_client.post(NEXT)
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"assignment", "clip", "language", "duration_ms", "audio_url", "lease_expires_at"}
    assert data["clip"] == str(oldest.id)
    assert data["language"] == "de-DE"
    assert data["duration_ms"] == 1000
    assert data["audio_url"] == f"/api/v1/review/assignments/{data['assignment']}/audio"
    assert "subject" not in response.content.decode()
    oldest.refresh_from_db()
    assert oldest.status == "assigned"
    lease = events("review.lease")[-1]
    assert (lease.outcome, str(lease.clip_id), lease.extra["assignment"]) == (
        "granted",
        data["clip"],
        data["assignment"],
    )


def test_asking_again_returns_the_same_lease(alice_client, make_clip):
    make_clip()
    make_clip()
    first = alice_client.post(NEXT).json()
    second = alice_client.post(NEXT).json()
    assert first == second
    assert Assignment.objects.count() == 1
    assert len(events("review.lease")) == 1


def test_it_answers_204_when_nothing_is_eligible(alice_client, make_clip):
    make_clip(language="fr-FR")  # not one of alice's languages
    make_clip(region="US")  # not a region facility A may process
    response = alice_client.post(NEXT)
    assert response.status_code == 204
    assert not Assignment.objects.exists()


def test_a_facility_gets_only_clips_of_its_regions(bob_client, make_clip):
    make_clip(language="en-US", region="EU")
    us = make_clip(language="en-US", region="US")
    assert bob_client.post(NEXT).json()["clip"] == str(us.id)


def test_it_never_hands_out_a_clip_of_an_opted_out_subject(alice_client, make_clip, service_client):
    make_clip(subject_id="leaver")
    assert service_client.put("/api/v1/subjects/leaver/opt-out").status_code == 200
    assert alice_client.post(NEXT).status_code == 204


def test_two_reviewers_get_two_different_clips(alice_client, facility_a, make_clip):
    from tests.personas import make_reviewer

    other = make_reviewer(
        email="erin@facility-a.example", facility=facility_a, address="10.1.9.9", languages=("de-DE",)
    )
    first, second = make_clip(), make_clip()
    mine = alice_client.post(NEXT).json()["clip"]
    theirs = verified_client(other).post(NEXT).json()["clip"]
    assert {mine, theirs} == {str(first.id), str(second.id)}


def test_an_expired_lease_returns_the_clip_to_the_queue_when_next_is_asked(alice_client, bob, make_clip, facility_a):
    from tests.personas import make_reviewer

    clip = make_clip()
    first = alice_client.post(NEXT).json()
    other = make_reviewer(
        email="erin@facility-a.example", facility=facility_a, address="10.1.9.9", languages=("de-DE",)
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        taken = verified_client(other).post(NEXT).json()
    assert taken["clip"] == str(clip.id)
    assert Assignment.objects.get(pk=first["assignment"]).status == "expired"
    assert events("review.lease_expired")[-1].extra["assignment"] == first["assignment"]


def test_the_beat_task_expires_lapsed_leases(alice_client, make_clip):
    clip = make_clip()
    lease = lease_next(alice_client)
    assert expire_leases() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert expire_leases() == 1
    clip.refresh_from_db()
    assert clip.status == "queued"
    assert Assignment.objects.get(pk=lease["assignment"]).status == "expired"


def test_reading_a_lapsed_lease_ends_it(alice_client, make_clip):
    make_clip()
    lease = lease_next(alice_client)
    assert alice_client.get(assignment_url(lease["assignment"])).json()["status"] == "active"
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        data = alice_client.get(assignment_url(lease["assignment"])).json()
    assert data["status"] == "expired"
    assert Clip.objects.get(pk=lease["clip"]).status == "queued"


def test_a_heartbeat_extends_the_lease(alice_client, make_clip):
    make_clip()
    lease = lease_next(alice_client)
    with time_machine.travel(timezone.now() + timedelta(minutes=8)):
        response = alice_client.post(assignment_url(lease["assignment"], "heartbeat"))
        assert response.status_code == 200
        extended = response.json()["lease_expires_at"]
    assert extended > lease["lease_expires_at"]
    with time_machine.travel(timezone.now() + timedelta(minutes=12)):
        assert alice_client.get(assignment_url(lease["assignment"])).json()["status"] == "active"
    assert events("review.heartbeat")[-1].outcome == "granted"


def test_a_released_clip_goes_back_to_the_queue(alice_client, make_clip):
    clip = make_clip()
    lease = lease_next(alice_client)
    response = alice_client.post(assignment_url(lease["assignment"], "release"))
    assert response.status_code == 200
    assert response.json() == {"assignment": lease["assignment"], "status": "released"}
    clip.refresh_from_db()
    assert clip.status == "queued"
    again = alice_client.post(NEXT).json()
    assert again["clip"] == str(clip.id)
    assert again["assignment"] != lease["assignment"]


def test_it_refuses_to_release_a_lease_twice(alice_client, make_clip):
    make_clip()
    lease = lease_next(alice_client)
    alice_client.post(assignment_url(lease["assignment"], "release"))
    response = alice_client.post(assignment_url(lease["assignment"], "release"))
    assert (response.status_code, error_code(response)) == (403, "lease_expired")
    assert denied("review.release", "lease_expired")


@pytest.mark.parametrize("suffix", ["", "heartbeat", "release", "audio", "transcript"])
def test_another_reviewers_lease_answers_exactly_like_a_missing_one(alice_client, bob_client, make_clip, suffix):
    make_clip()
    lease = lease_next(alice_client)

    def method(url):
        if suffix in {"", "audio"}:
            return bob_client.get(url)
        return bob_client.post(url, {"text": "hallo"}, format="json")

    theirs = method(assignment_url(lease["assignment"], suffix) + f"?reviewer={lease['assignment']}")
    missing = method(assignment_url(uuid.uuid4(), suffix))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == {"error": {"code": "not_found", "message": "Not found."}}
    refusals = [e for e in events(outcome="denied", reason="not_found")]
    assert len(refusals) == 2
    # The refusal names the id that was tried, never the clip behind it.
    assert refusals[0].extra["assignment"] == lease["assignment"]
    assert refusals[0].clip_id is None
    assert refusals[0].actor_label == "bob@facility-b.example"


@pytest.mark.parametrize("bad_id", ["1", "2", "0000", "-1", "null", "%00", "a" * 5000])
def test_sequential_or_malformed_ids_are_not_found(alice_client, make_clip, bad_id):
    response = alice_client.get(assignment_url(bad_id))
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert events(outcome="denied", reason="not_found")


def test_it_refuses_a_password_only_session(password_only_client, make_clip):
    make_clip()
    response = password_only_client.post(NEXT)
    assert (response.status_code, error_code(response)) == (403, "otp_required")
    assert events("request.denied", reason="otp_required")
    assert not Assignment.objects.exists()


def test_it_refuses_expired_vetting(carol_client, make_clip):
    make_clip()
    response = carol_client.post(NEXT)
    assert (response.status_code, error_code(response)) == (403, "vetting_expired")
    assert events("request.denied", reason="vetting_expired")


def test_it_refuses_a_suspended_reviewer(dave_client, make_clip):
    make_clip()
    response = dave_client.post(NEXT)
    assert (response.status_code, error_code(response)) == (403, "account_suspended")
    assert events("request.denied", reason="account_suspended")


def test_it_refuses_a_session_used_from_outside_the_facility(alice, make_clip):
    make_clip()
    response = verified_client(alice, address=ADDRESS_OUTSIDE).post(NEXT)
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
    assert events("request.denied", reason="outside_facility_network")


def test_it_refuses_an_api_key_and_an_anonymous_caller(service_client, make_clip):
    make_clip()
    response = service_client.post(NEXT)
    assert (response.status_code, error_code(response)) == (401, "authentication_required")
    assert APIClient(REMOTE_ADDR="10.1.2.3").post(NEXT).status_code == 401
    assert not Assignment.objects.exists()


def test_it_caps_new_leases_per_hour(alice_client, make_clip, settings):
    settings.REVIEWSVC_LEASES_PER_HOUR = 1
    make_clip()
    make_clip()
    lease = lease_next(alice_client)
    assert alice_client.post(NEXT).json() == lease  # the same lease is not a new one
    alice_client.post(assignment_url(lease["assignment"], "release"))
    response = alice_client.post(NEXT)
    assert (response.status_code, error_code(response)) == (429, "rate_limited")
    assert denied("review.lease", "rate_limited")[-1].extra == {"limit": 1, "kind": "lease"}


def test_the_database_allows_one_active_lease_per_clip_and_per_reviewer(alice, bob, make_clip):
    clip, other = make_clip(), make_clip()
    end = timezone.now() + timedelta(minutes=10)
    Assignment.objects.create(clip=clip, reviewer=alice.user, expires_at=end)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(clip=clip, reviewer=bob.user, expires_at=end)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(clip=other, reviewer=alice.user, expires_at=end)
    # Ended leases do not count: a clip can be leased again after one expired.
    Assignment.objects.filter(clip=clip).update(status="expired")
    Assignment.objects.create(clip=clip, reviewer=bob.user, expires_at=end)


def test_the_lease_sweep_runs_every_minute_on_beat(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["reviews.expire_leases"]
    assert entry["schedule"] == 60.0
    assert entry["task"] in app.tasks
