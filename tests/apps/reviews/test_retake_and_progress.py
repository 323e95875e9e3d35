"""Taking an expired lease's clip again, and the reviewer's own progress counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.clips.models import Clip
from apps.common.context import RequestContext
from apps.privacy.services import subject_opt_out
from apps.reviews.models import Assignment
from tests.apps.reviews.support import assignment_url
from tests.personas import ADDRESS_OUTSIDE, make_reviewer, verified_client
from tests.support import NEXT, denied, error_code, events

pytestmark = pytest.mark.django_db

PROGRESS = "/api/v1/review/progress"


def expired_lease(client, make_clip, **clip_fields) -> dict:
    make_clip(**clip_fields)
    lease = client.post(NEXT).json()
    Assignment.objects.filter(pk=lease["assignment"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(assignment_url(lease["assignment"])).json()["status"] == "expired"
    return lease


def test_an_expired_lease_can_be_taken_again_on_the_same_clip_with_a_new_lease(alice_client, make_clip):
    old = expired_lease(alice_client, make_clip)

    response = alice_client.post(assignment_url(old["assignment"], "retake"))

    assert response.status_code == 200
    new = response.json()
    assert new["clip"] == old["clip"]
    assert new["assignment"] != old["assignment"]
    assert Clip.objects.get(pk=old["clip"]).status == "assigned"
    event = events("review.lease")[-1]
    assert (event.outcome, event.extra["assignment"], event.extra["retake_of"]) == (
        "granted",
        new["assignment"],
        old["assignment"],
    )
    # Asking again while the new lease runs answers the same lease.
    assert alice_client.post(assignment_url(old["assignment"], "retake")).json() == new


def test_a_clip_someone_else_took_meanwhile_cannot_be_taken_again(alice_client, make_clip, facility_a):
    old = expired_lease(alice_client, make_clip)
    other = make_reviewer(
        email="erin@facility-a.example", facility=facility_a, address="10.1.9.9", languages=("de-DE",)
    )
    assert verified_client(other).post(NEXT).json()["clip"] == old["clip"]

    response = alice_client.post(assignment_url(old["assignment"], "retake"))

    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert denied("review.lease", "not_found")


def test_an_opted_out_subjects_clip_cannot_be_taken_again(alice_client, make_clip):
    old = expired_lease(alice_client, make_clip, subject_id="subject-gone")
    subject_opt_out(subject_id="subject-gone", context=RequestContext.system("tests"))

    response = alice_client.post(assignment_url(old["assignment"], "retake"))

    assert response.status_code == 403
    assert not Assignment.objects.filter(status="active").exists()


def test_only_an_expired_lease_can_be_taken_again(alice_client, make_clip):
    make_clip()
    lease = alice_client.post(NEXT).json()
    assert alice_client.post(assignment_url(lease["assignment"], "release")).status_code == 200

    response = alice_client.post(assignment_url(lease["assignment"], "retake"))

    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_another_reviewers_expired_lease_cannot_be_taken_again(alice_client, bob_client, make_clip):
    old = expired_lease(alice_client, make_clip)

    response = bob_client.post(assignment_url(old["assignment"], "retake"))

    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert Clip.objects.get(pk=old["clip"]).status == "queued"


def test_a_reviewer_holding_another_lease_is_refused_the_retake(alice_client, make_clip):
    old = expired_lease(alice_client, make_clip)
    make_clip(subject_id="subject-2")
    # next hands out the oldest: the expired lease's clip again; release it and take the other.
    taken = alice_client.post(NEXT).json()
    assert taken["clip"] == old["clip"]
    alice_client.post(assignment_url(taken["assignment"], "release"))
    Clip.objects.filter(pk=old["clip"]).update(created_at=timezone.now())
    other = alice_client.post(NEXT).json()
    assert other["clip"] != old["clip"]

    response = alice_client.post(assignment_url(old["assignment"], "retake"))

    assert (response.status_code, error_code(response)) == (409, "conflict")
    assert denied("review.lease", "conflict")


def test_the_retake_is_refused_outside_the_facility_network(alice, alice_client, make_clip):
    old = expired_lease(alice_client, make_clip)

    response = verified_client(alice, address=ADDRESS_OUTSIDE).post(assignment_url(old["assignment"], "retake"))

    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
    assert Clip.objects.get(pk=old["clip"]).status == "queued"


def test_progress_counts_clips_done_this_session_and_today_and_the_queue_in_the_reviewers_languages(
    alice, alice_client, make_clip
):
    make_clip(subject_id="s1")
    make_clip(subject_id="s2", language="en-US")
    make_clip(subject_id="s3", language="fr-FR")  # not one of alice's languages
    make_clip(subject_id="s4", region="US")  # not a region of her facility
    before = alice_client.get(PROGRESS).json()
    assert before == {
        "done_session": 0,
        "done_today": 0,
        "worked_seconds_session": 0,
        "worked_seconds_today": 0,
        "queue_size": 2,
        "queue_size_capped": False,
    }
    with time_machine.travel(timezone.now(), tick=False) as clock:
        lease = alice_client.post(NEXT).json()
        clock.shift(timedelta(seconds=42))
        alice_client.post(assignment_url(lease["assignment"], "transcript"), {"text": "Hallo"}, format="json")

        after = alice_client.get(PROGRESS).json()
        assert (after["done_session"], after["done_today"], after["queue_size"]) == (1, 1, 1)
        assert after["worked_seconds_session"] == after["worked_seconds_today"] == 42

        # A new session starts its own count; the day's stays.
        clock.shift(timedelta(seconds=5))
        fresh = verified_client(alice).get(PROGRESS).json()
        assert (fresh["done_session"], fresh["done_today"], fresh["worked_seconds_session"]) == (0, 1, 0)


def test_progress_is_refused_to_a_suspended_reviewer(dave_client):
    response = dave_client.get(PROGRESS)

    assert response.status_code == 403
    assert "queue_size" not in response.content.decode()


def test_progress_is_refused_outside_the_facility_network(alice):
    response = verified_client(alice, address=ADDRESS_OUTSIDE).get(PROGRESS)

    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
