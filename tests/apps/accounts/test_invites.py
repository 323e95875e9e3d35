"""Invites: single use, hashed, 72 h, from the facility only; own password, own authenticator."""

from __future__ import annotations

import io
import re
from base64 import b32decode
from datetime import date, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import EncryptedTOTPDevice, Invite, Reviewer
from apps.accounts.services import hash_invite_token, reviewer_invite, staff_invite
from tests.apps.accounts.support import LOGIN
from tests.personas import ADDRESS_A, ADDRESS_ADMIN, ADDRESS_OUTSIDE, token_of, totp_code
from tests.support import error_code, events, last_event

pytestmark = pytest.mark.django_db

PASSWORD = "Lantern-orbit-47-quartz"


def invite_alice(facility, context) -> str:
    _, url = reviewer_invite(
        email="Alice@Facility-A.example",
        facility_name=facility.name,
        languages=["de-de", "en-US"],
        vetted_until=timezone.localdate() + timedelta(days=30),
        context=context,
    )
    return url


def accept(url, password=PASSWORD, address=ADDRESS_A, **headers):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/v1/invites/accept", {"token": token_of(url), "password": password}, format="json", **headers
    )


def confirm(url, otp, address=ADDRESS_A):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/v1/invites/confirm", {"token": token_of(url), "otp": otp}, format="json"
    )


def pending_device(username: str) -> EncryptedTOTPDevice:
    return EncryptedTOTPDevice.objects.get(user__username=username, confirmed=False)


def test_invite_reviewer_prints_a_site_url_link_last_and_stores_only_its_hash(facility_a):
    out = io.StringIO()
    call_command(
        "invite_reviewer",
        "Carla@Facility-A.example",
        "--facility",
        "Facility A",
        "--language",
        "de-DE",
        "--vetted-until",
        "2031-01-31",
        stdout=out,
    )
    url = out.getvalue().strip().splitlines()[-1].split()[-1]
    assert re.fullmatch(re.escape(settings.REVIEWSVC_SITE_URL) + r"/invite/#[A-Za-z0-9_-]{43}", url)
    token = token_of(url)
    invite = Invite.objects.get()
    assert invite.token_hash == hash_invite_token(token) != token
    assert invite.expires_at - invite.created_at == timedelta(hours=72)
    reviewer = Reviewer.objects.get()
    assert (reviewer.user.username, reviewer.status, reviewer.vetted_until) == (
        "carla@facility-a.example",
        "invited",
        date(2031, 1, 31),
    )
    assert not reviewer.user.has_usable_password()
    assert not reviewer.user.is_active
    assert last_event("invite.create").extra["username"] == "carla@facility-a.example"


def test_the_whole_enrolment_then_a_login(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    accepted = accept(url)
    assert accepted.status_code == 200
    assert accepted["Cache-Control"] == "no-store"
    body = accepted.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/reviewsvc%3Aalice%40facility-a.example?secret=")
    assert body["qr_svg"].startswith("data:image/svg+xml")
    device = pending_device("alice@facility-a.example")
    assert b32decode(body["manual_key"] + "=" * (-len(body["manual_key"]) % 8)) == device.bin_key
    confirmed = confirm(url, totp_code(device))
    assert confirmed.status_code == 200
    assert confirmed.json() == {"username": "alice@facility-a.example"}
    reviewer = Reviewer.objects.get()
    assert reviewer.status == "active"
    assert reviewer.user.is_active
    assert reviewer.languages == ["de-DE", "en-US"]
    assert {"invite.accept", "device.change", "invite.confirm"} <= {e.action for e in events()}
    login = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        LOGIN,
        {"username": "alice@facility-a.example", "password": PASSWORD, "otp": totp_code(device, 1)},
        format="json",
    )
    assert login.status_code == 200


def test_the_seed_is_stored_only_encrypted(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    body = accept(url).json()
    device = pending_device("alice@facility-a.example")
    seed = device.bin_key
    row = EncryptedTOTPDevice.objects.filter(pk=device.pk).values().get()
    stored = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row.values())
    for form in (seed, seed.hex().encode(), body["manual_key"].encode()):
        assert form not in stored
    assert row["key_version"] == 1


def test_a_sealed_seed_copied_to_another_device_does_not_open(alice, bob):
    from reviewsvc.crypto.errors import DecryptionError

    EncryptedTOTPDevice.objects.filter(pk=bob.device.pk).update(
        sealed_seed=bytes(alice.device.sealed_seed), wrapped_key=bytes(alice.device.wrapped_key)
    )
    moved = EncryptedTOTPDevice.objects.get(pk=bob.device.pk)
    with pytest.raises(DecryptionError):
        _ = moved.bin_key


def test_it_refuses_enrolment_from_outside_the_facility_and_logs_it(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    response = accept(url, address=ADDRESS_OUTSIDE, HTTP_X_FORWARDED_FOR=ADDRESS_A)
    assert response.status_code == 403
    assert error_code(response) == "outside_facility_network"
    event = last_event("invite.accept")
    assert (event.outcome, event.reason, event.facility_id) == ("denied", "outside_facility_network", facility_a.pk)
    assert not EncryptedTOTPDevice.objects.exists()


def test_staff_enrol_only_from_the_admin_networks(system_context):
    _, url = staff_invite(email="root@reviewsvc.example", auditor=False, superuser=True, context=system_context)
    assert accept(url, address=ADDRESS_A).status_code == 403
    assert accept(url, address=ADDRESS_ADMIN).status_code == 200


def test_an_unknown_token_is_not_found():
    response = accept("http://x/invite/#" + "A" * 43)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_an_invite_expires_after_72_hours_and_says_so_in_the_log(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    with time_machine.travel(timezone.now() + timedelta(hours=72, seconds=1), tick=False):
        response = accept(url)
    assert response.status_code == 410
    assert error_code(response) == "invite_expired"
    assert last_event("invite.expired").outcome == "denied"


def test_an_invite_works_once(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    accept(url)
    assert confirm(url, totp_code(pending_device("alice@facility-a.example"))).status_code == 200
    again = accept(url, password="Another-long-pass-99")
    assert again.status_code == 410
    assert error_code(again) == "invite_used"


def test_a_new_invite_retires_the_old_one(facility_a, system_context):
    from apps.accounts.services import reviewer_reenrol

    first = invite_alice(facility_a, system_context)
    second = reviewer_reenrol(email="alice@facility-a.example", context=system_context)
    assert error_code(accept(first)) == "invite_expired"
    assert accept(second).status_code == 200


@pytest.mark.parametrize(
    "password",
    ["short-pw-1", "password1234", "x" * 129, "alice@facility-a.example"],
    ids=["too-short", "common", "too-long", "like-the-username"],
)
def test_weak_passwords_are_refused(facility_a, system_context, password):
    url = invite_alice(facility_a, system_context)
    response = accept(url, password=password)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "password" in response.json()["error"]["fields"]


def test_a_128_character_password_is_kept_whole(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    password = "Q7-" + "long-enough-" * 10 + "abcde"
    assert len(password) == 128
    assert accept(url, password=password).status_code == 200
    assert Reviewer.objects.get().user.check_password(password)
    assert not Reviewer.objects.get().user.check_password(password[:-1])


def test_a_wrong_code_does_not_confirm(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    accept(url)
    device = pending_device("alice@facility-a.example")
    wrong = "000000" if totp_code(device) != "000000" else "111111"
    for otp in (wrong, f" {totp_code(device)} "):
        response = confirm(url, otp)
        assert response.status_code == 400
        assert last_event("invite.confirm").reason == "bad_otp"
    assert Reviewer.objects.get().status == "invited"


def test_confirm_before_accept_is_refused(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    assert confirm(url, "123456").status_code == 400


def test_invite_links_ignore_a_forged_host(facility_a, system_context):
    invite_alice(facility_a, system_context)
    response = APIClient(REMOTE_ADDR=ADDRESS_A).get("/invite/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    out = io.StringIO()
    call_command("invite_staff", "ops@reviewsvc.example", stdout=out)
    assert out.getvalue().split()[-1].startswith(settings.REVIEWSVC_SITE_URL + "/invite/")
    assert "evil.example" not in out.getvalue()


def test_the_invite_page_renders_without_inline_script(facility_a, system_context):
    invite_alice(facility_a, system_context)
    response = APIClient(REMOTE_ADDR=ADDRESS_A).get("/invite/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html
    assert 'src="/static/accounts/accounts.js"' in html
    assert "csrftoken" in response.cookies


def test_nothing_secret_is_ever_printed_or_logged(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    body = accept(url).json()
    device = pending_device("alice@facility-a.example")
    confirm(url, totp_code(device))
    logged = " ".join(f"{e.actor_label} {e.reason} {e.extra}" for e in events())
    for secret in (PASSWORD, body["manual_key"], token_of(url), device.bin_key.hex()):
        assert secret not in logged


def test_the_forms_with_the_token_in_the_path_are_gone(facility_a, system_context):
    token = token_of(invite_alice(facility_a, system_context))
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    assert client.get(f"/invite/{token}/").status_code == 404
    for step in ("accept", "confirm", "password-check"):
        assert client.post(f"/api/v1/invites/{token}/{step}", {"password": PASSWORD}, format="json").status_code == 404
    assert not Invite.objects.filter(accepted_at__isnull=False).exists()


@pytest.mark.parametrize(
    "token", [None, "", "A" * 129, 12345, ["x"]], ids=["missing", "blank", "long", "number", "list"]
)
def test_a_missing_or_malformed_token_in_the_body_is_a_validation_error(token):
    body = {"password": PASSWORD} if token is None else {"token": token, "password": PASSWORD}
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post("/api/v1/invites/accept", body, format="json")
    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert "token" in response.json()["error"]["fields"]


def test_enrolment_events_name_the_invited_account_as_actor(facility_a, system_context):
    url = invite_alice(facility_a, system_context)
    accept(url)
    device = pending_device("alice@facility-a.example")
    wrong = "000000" if totp_code(device) != "000000" else "111111"
    confirm(url, wrong)
    # django-otp holds the device for a second after a failure.
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        assert confirm(url, totp_code(device)).status_code == 200
    reviewer = Reviewer.objects.get()
    enrolment = [
        e for e in events() if e.action in {"invite.accept", "password.change", "invite.confirm", "device.change"}
    ]
    assert [e.action for e in enrolment] == [
        "password.change",
        "invite.accept",
        "invite.confirm",
        "device.change",
        "invite.confirm",
    ]
    assert {(e.actor_kind, e.actor_id, e.actor_label) for e in enrolment} == {
        ("reviewer", str(reviewer.user_id), "alice@facility-a.example")
    }
