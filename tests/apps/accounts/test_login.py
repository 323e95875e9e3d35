"""POST /auth/login: password and OTP in one step, one answer for every wrong part."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import AccountSession, LoginThrottle
from tests.apps.accounts.support import LOGIN, LOGOUT, SESSION_ME
from tests.personas import ADDRESS_A, ADDRESS_B, ADDRESS_OUTSIDE, totp_code
from tests.support import error_code, events, last_event

pytestmark = pytest.mark.django_db


def login(persona, *, otp=None, password=None, address=ADDRESS_A, username=None, **headers):
    client = APIClient(REMOTE_ADDR=address)
    response = client.post(
        LOGIN,
        {
            "username": persona.username if username is None else username,
            "password": persona.password if password is None else password,
            "otp": totp_code(persona.device, steps=1) if otp is None else otp,
        },
        format="json",
        **headers,
    )
    return client, response


def test_a_reviewer_logs_in_with_password_and_code_in_one_step(alice):
    client, response = login(alice)
    assert response.status_code == 200
    assert response.json() == {"username": alice.username, "role": "reviewer", "facility": "Facility A"}
    assert response["Cache-Control"] == "no-store"
    assert client.get(SESSION_ME).status_code == 200
    event = last_event("auth.login")
    assert (event.outcome, event.actor_label, event.facility_name) == ("granted", alice.username, "Facility A")


def test_the_session_a_login_leaves_names_its_user_and_device_and_logout_removes_it(alice):
    client, response = login(alice)
    assert response.status_code == 200
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    row = AccountSession.objects.get(session_key=key)
    assert (row.user_id, row.totp_device_id, row.webauthn_credential_id) == (alice.user.pk, alice.device.pk, None)
    assert client.post(LOGOUT).status_code == 204
    assert not AccountSession.objects.filter(session_key=key).exists()


def test_the_username_is_case_insensitive(alice):
    _, response = login(alice, username="  Alice@Facility-A.example ")
    assert response.status_code == 200


def test_login_cycles_the_session_key(alice):
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    client.get(LOGIN)
    client.cookies[settings.SESSION_COOKIE_NAME] = "planted-by-an-attacker-0000000000"
    response = client.post(
        LOGIN,
        {"username": alice.username, "password": alice.password, "otp": totp_code(alice.device, 1)},
        format="json",
    )
    assert response.status_code == 200
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != "planted-by-an-attacker-0000000000"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"username": "nobody@facility-a.example"}, "unknown_user"),
        ({"password": "Wrong-password-123"}, "bad_password"),
        ({"otp": "000000"}, "bad_otp"),
    ],
    ids=["unknown-user", "wrong-password", "wrong-code"],
)
def test_every_wrong_part_gets_the_same_answer_and_the_event_keeps_the_reason(alice, change, reason):
    _, response = login(alice, **change)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "invalid_credentials",
        "message": "Username, password or one-time code is wrong.",
    }
    event = last_event("auth.login_failed")
    assert (event.outcome, event.reason) == ("denied", reason)
    # The event never holds what was typed.
    assert alice.password not in str(event.extra)
    assert "Wrong-password" not in str(event.extra)
    assert not events("auth.login")


def test_a_replayed_code_is_refused_and_logged_as_replay(alice):
    code = totp_code(alice.device, 1)
    client, first = login(alice, otp=code)
    assert first.status_code == 200
    client.post(LOGOUT)
    _, again = login(alice, otp=code)
    assert again.status_code == 401
    assert error_code(again) == "invalid_credentials"
    assert last_event("auth.otp_replay").outcome == "denied"
    assert last_event("auth.login_failed").reason == "otp_replay"


def test_a_code_two_steps_old_is_refused(alice):
    _, response = login(alice, otp=totp_code(alice.device, -2))
    assert response.status_code == 401
    assert last_event("auth.login_failed").reason == "bad_otp"
    assert not events("auth.otp_replay")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda code: code.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        lambda code: f" {code} ",
        lambda code: f"{code[0]}_{code[1:]}",
        lambda code: f"{code}\n",
        lambda code: f"+{code[1:]}",
    ],
    ids=["fullwidth", "spaces", "underscore", "newline", "plus-sign"],
)
def test_only_six_ascii_digits_are_a_code(alice, mangle):
    _, response = login(alice, otp=mangle(totp_code(alice.device, 1)))
    assert response.status_code == 401
    assert last_event("auth.login_failed").reason == "bad_otp"


@pytest.mark.parametrize("otp", [123456, ["123456"], {"$ne": None}, None], ids=["number", "list", "object", "null"])
def test_a_code_that_is_not_a_json_string_is_a_bad_request(alice, otp):
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    response = client.post(LOGIN, {"username": alice.username, "password": alice.password, "otp": otp}, format="json")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_it_refuses_a_correct_login_from_outside_the_facility_and_logs_it(alice):
    _, response = login(alice, address=ADDRESS_OUTSIDE)
    assert response.status_code == 403
    assert error_code(response) == "outside_facility_network"
    event = last_event("auth.login_failed")
    assert (event.outcome, event.reason, event.client_address, event.extra) == (
        "denied",
        "outside_facility_network",
        ADDRESS_OUTSIDE,
        {"source_network": "203.0.113.0/24"},
    )


def test_it_refuses_a_correct_login_from_another_facilitys_network_and_logs_it(alice, facility_b):
    _, response = login(alice, address=ADDRESS_B)
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
    event = last_event("auth.login")
    assert (event.outcome, event.reason, event.client_address) == ("denied", "outside_facility_network", ADDRESS_B)


@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_X_FORWARDED_FOR": ADDRESS_A},
        {"HTTP_X_FORWARDED_FOR": f"{ADDRESS_A}, {ADDRESS_A}"},
        {"HTTP_FORWARDED": f"for={ADDRESS_A}"},
        {"HTTP_X_REAL_IP": ADDRESS_A},
    ],
    ids=["xff", "two-xff", "forwarded", "x-real-ip"],
)
def test_a_spoofed_forwarding_header_does_not_bring_a_login_inside(alice, header):
    _, response = login(alice, address=ADDRESS_OUTSIDE, **header)
    assert response.status_code == 403
    assert error_code(response) == "outside_facility_network"


def test_it_refuses_a_suspended_reviewer_with_correct_credentials(dave):
    _, response = login(dave)
    assert response.status_code == 403
    assert error_code(response) == "account_suspended"
    assert last_event("auth.login").reason == "account_suspended"


def test_staff_log_in_only_from_the_admin_networks(admin):
    _, inside = login(admin, address="127.0.0.1")
    assert inside.status_code == 200
    assert inside.json()["role"] == "admin"
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):
        _, outside = login(admin, address=ADDRESS_A)
    assert outside.status_code == 403
    assert error_code(outside) == "outside_facility_network"


def test_an_auditor_logs_in_as_auditor(auditor):
    _, response = login(auditor, address="127.0.0.1")
    assert response.status_code == 200
    assert response.json() == {"username": auditor.username, "role": "auditor", "facility": None}


def _guess(client_address: str, username: str, forwarded: str):
    client = APIClient(REMOTE_ADDR=client_address)
    return client.post(
        LOGIN,
        {"username": username, "password": "Guessing-password-1", "otp": "123456"},
        format="json",
        HTTP_X_FORWARDED_FOR=forwarded,
        HTTP_USER_AGENT=f"device-{forwarded}",
    )


@pytest.mark.parametrize("username", ["alice@facility-a.example", "ghost@facility-a.example"])
def test_guesses_spread_over_addresses_and_devices_still_trip_the_lockout(alice, username):
    limit = 10
    answers = [
        _guess(f"10.1.{i}.{i + 1}", username.upper() if i % 2 else username, f"198.51.100.{i}").status_code
        for i in range(limit)
    ]
    assert answers == [401] * limit
    locked = _guess("10.1.200.1", username, "198.51.100.250")
    assert locked.status_code == 429
    assert error_code(locked) == "too_many_attempts"
    lockout = last_event("auth.lockout")
    assert (lockout.outcome, lockout.reason) == ("denied", "too_many_attempts")
    # Even the right password and code are refused while the name is locked.
    _, correct = login(alice, username=username)
    assert correct.status_code == 429


def test_a_locked_name_is_refused_without_hashing_any_password(alice):
    for i in range(10):
        _guess(ADDRESS_A, alice.username, f"198.51.100.{i}")
    with (
        mock.patch.object(MD5PasswordHasher, "encode", side_effect=AssertionError("hashed")) as encode,
        mock.patch.object(MD5PasswordHasher, "verify", side_effect=AssertionError("hashed")) as verify,
        mock.patch.object(User, "check_password", side_effect=AssertionError("checked")) as check,
    ):
        response = _guess(ADDRESS_A, alice.username, "198.51.100.99")
    assert response.status_code == 429
    assert not encode.called
    assert not verify.called
    assert not check.called


def test_the_lockout_ends_after_its_time(alice):
    for i in range(10):
        _guess(ADDRESS_A, alice.username, f"198.51.100.{i}")
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        _, response = login(alice)
        assert response.status_code == 200
    assert not LoginThrottle.objects.exists()


def test_failures_outside_the_window_do_not_add_up(alice):
    start = timezone.now()
    for i in range(9):
        _guess(ADDRESS_A, alice.username, f"198.51.100.{i}")
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert _guess(ADDRESS_A, alice.username, "198.51.100.77").status_code == 401
        assert _guess(ADDRESS_A, alice.username, "198.51.100.78").status_code == 401
    assert not events("auth.lockout")


def test_a_hostile_username_is_escaped_and_truncated_in_one_record(alice):
    hostile = "x\nLOGIN_OK admin\x1b[31m" + "A" * 1_000_000
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    response = client.post(LOGIN, {"username": hostile, "password": "p", "otp": "123456"}, format="json")
    assert response.status_code == 401
    [event] = events("auth.login_failed")
    assert "\n" not in event.actor_label
    assert "\x1b" not in event.actor_label
    assert event.actor_label.startswith("x\\x0aLOGIN_OK admin\\x1b[31m")
    assert len(event.actor_label) == 150


def test_login_enforces_csrf_for_browsers(alice):
    client = APIClient(REMOTE_ADDR=ADDRESS_A, enforce_csrf_checks=True)
    body = {"username": alice.username, "password": alice.password, "otp": totp_code(alice.device, 1)}
    refused = client.post(LOGIN, body, format="json")
    assert refused.status_code == 403
    token = client.get(LOGIN).cookies["csrftoken"].value
    accepted = client.post(LOGIN, body, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200


def test_logout_kills_the_old_cookie(alice):
    client, _ = login(alice)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.post(LOGOUT).status_code == 204
    assert last_event("auth.logout").actor_label == alice.username
    replay = APIClient(REMOTE_ADDR=ADDRESS_A)
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert replay.get(SESSION_ME).status_code == 401


def test_logout_needs_a_session():
    response = APIClient().post(LOGOUT)
    assert response.status_code == 401


def test_django_otp_throttling_holds_back_a_right_code_right_after_a_wrong_one(alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        wrong = "000000" if totp_code(alice.device, 1) != "000000" else "111111"
        _, first = login(alice, otp=wrong)
        assert first.status_code == 401
        _, throttled = login(alice)
        assert throttled.status_code == 401
        assert last_event("auth.login_failed").reason == "bad_otp"
        clock.shift(timedelta(seconds=3))
        _, later = login(alice)
        assert later.status_code == 200


def test_the_login_page_renders_with_its_script_and_no_inline_code():
    response = APIClient(REMOTE_ADDR=ADDRESS_A).get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="/static/accounts/accounts.js"' in html
    assert "<script>" not in html
    assert "onclick" not in html
    assert "csrftoken" in response.cookies
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_deactivated_account_is_refused_with_the_right_password_and_code(alice):
    User.objects.filter(username=alice.username).update(is_active=False)
    _, response = login(alice)
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "inactive_user"


def test_an_account_that_is_neither_reviewer_nor_staff_gets_no_session(admin, facility_a):
    User.objects.filter(username=admin.username).update(is_staff=False, is_superuser=False)
    client, response = login(admin, address=ADDRESS_A)
    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    assert last_event("auth.login").reason == "permission_denied"
    assert client.get(SESSION_ME).status_code == 401


def test_staff_are_refused_from_a_facility_network_outside_the_admin_networks(admin, facility_a):
    client, response = login(admin, address=ADDRESS_A)
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")
    assert last_event("auth.login").reason == "outside_facility_network"
    assert client.get(SESSION_ME).status_code == 401
