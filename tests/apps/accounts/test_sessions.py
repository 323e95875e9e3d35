"""Server-side session limits: 15 minutes idle, 10 hours absolute, and ends by the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import AccountSession
from apps.accounts.services import reviewer_offboard, reviewer_reenrol
from tests.apps.accounts.support import REVIEWER_ME, SESSION_ME
from tests.personas import password_only, verified_client
from tests.support import error_code, events, last_event

pytestmark = pytest.mark.django_db


def test_the_limits_are_fifteen_minutes_idle_and_ten_hours_absolute():
    assert settings.SESSION_IDLE_SECONDS == 15 * 60
    assert settings.SESSION_COOKIE_AGE == 10 * 60 * 60


def test_an_idle_session_ends_after_fifteen_minutes_and_says_so_in_the_log(alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = verified_client(alice)
        clock.shift(timedelta(minutes=14, seconds=59))
        assert client.get(REVIEWER_ME).status_code == 200
        clock.shift(timedelta(minutes=15))
        response = client.get(REVIEWER_ME)
    assert response.status_code == 401
    assert error_code(response) == "authentication_required"
    event = last_event("auth.session_timeout")
    assert (event.reason, event.actor_label) == ("idle", alice.username)


def test_background_polls_do_not_keep_an_idle_session_alive(alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = verified_client(alice)
        for _ in range(14):
            clock.shift(timedelta(minutes=1))
            assert client.get(REVIEWER_ME, HTTP_X_BACKGROUND_POLL="1").status_code == 200
        clock.shift(timedelta(minutes=1))
        response = client.get(REVIEWER_ME, HTTP_X_BACKGROUND_POLL="1")
    assert response.status_code == 401
    assert last_event("auth.session_timeout").reason == "idle"


def test_activity_keeps_a_session_alive_only_up_to_ten_hours(alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = verified_client(alice)
        for _ in range(59):
            clock.shift(timedelta(minutes=10))
            assert client.get(REVIEWER_ME).status_code == 200
        clock.shift(timedelta(minutes=10))  # 10 h after login
        response = client.get(REVIEWER_ME)
    assert response.status_code == 401
    assert last_event("auth.session_timeout").reason == "absolute"


def test_a_timed_out_session_is_deleted_server_side(alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = verified_client(alice)
        key = client.cookies[settings.SESSION_COOKIE_NAME].value
        assert AccountSession.objects.filter(session_key=key).exists()
        clock.shift(timedelta(minutes=16))
        client.get(SESSION_ME)
    assert not AccountSession.objects.filter(session_key=key).exists()


def test_a_session_that_never_passed_login_is_refused(alice):
    client = verified_client(alice)
    session = client.session
    del session["reviewsvc_login_at"]
    session.save()
    assert client.get(REVIEWER_ME).status_code == 401
    assert last_event("auth.session_timeout").reason == "unmarked"


def test_password_only_sessions_time_out_too(alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = password_only(alice)
        clock.shift(timedelta(minutes=16))
        response = client.get(SESSION_ME)
    assert response.status_code == 401


def test_offboarding_ends_sessions_and_deletes_the_device(alice, system_context):
    client = verified_client(alice)
    reviewer_offboard(email=alice.username, context=system_context)
    assert client.get(REVIEWER_ME).status_code == 401
    assert not alice.user.encryptedtotpdevice_set.exists()
    alice.user.refresh_from_db()
    assert not alice.user.is_active
    assert not alice.user.has_usable_password()
    assert last_event("reviewer.offboard").outcome == "granted"


def test_reenrolment_ends_sessions_and_the_old_device_stops_working(alice, system_context):
    client = verified_client(alice)
    url = reviewer_reenrol(email=alice.username, context=system_context)
    assert url.startswith(settings.REVIEWSVC_SITE_URL + "/invite/")
    assert client.get(REVIEWER_ME).status_code == 401
    assert verified_client(alice).get(REVIEWER_ME).status_code == 401  # the device is gone, the user inactive
    assert [e.action for e in events()][-3:] == ["device.change", "invite.create", "reviewer.reenrol"]


def test_anonymous_requests_are_untouched():
    assert APIClient().get("/healthz").status_code == 200


def test_moving_a_reviewer_to_another_facility_ends_their_sessions(alice, facility_b, system_context):
    from apps.accounts.services import reviewer_change

    client = verified_client(alice)
    assert client.get(REVIEWER_ME).status_code == 200

    moved = reviewer_change(reviewer=alice.reviewer, facility=facility_b, context=system_context)

    assert moved.facility_id == facility_b.pk
    assert client.get(REVIEWER_ME).status_code == 401
    event = last_event("reviewer.change")
    assert (event.facility_id, event.extra["fields"]) == (facility_b.pk, ["facility"])


def test_a_change_of_languages_or_vetting_keeps_the_sessions(alice, system_context):
    from apps.accounts.services import reviewer_change

    client = verified_client(alice)
    until = timezone.localdate() + timedelta(days=10)

    reviewer_change(reviewer=alice.reviewer, languages=["fr-FR"], vetted_until=until, context=system_context)

    assert client.get(REVIEWER_ME).status_code == 200
    assert last_event("reviewer.change").extra["fields"] == ["languages", "vetted_until"]
