"""/admin/: OTP required, admin networks only, auditors read-only, seeds never shown."""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.models import Reviewer
from apps.facilities.models import Facility
from tests.apps.accounts.support import REVIEWER_ME
from tests.personas import ADDRESS_A, password_only, totp_code, verified_client
from tests.support import events, last_event

pytestmark = pytest.mark.django_db


def test_a_verified_admin_reaches_the_admin(admin_client):
    assert admin_client.get("/admin/").status_code == 200


def test_the_admin_refuses_clients_outside_the_admin_networks_and_logs_it(admin):
    response = verified_client(admin, address=ADDRESS_A).get("/admin/", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "outside_facility_network"
    event = last_event("admin.denied")
    assert (event.outcome, event.reason, event.client_address) == ("denied", "outside_facility_network", ADDRESS_A)


def test_a_password_only_staff_session_is_sent_to_the_one_login_page(admin):
    client = password_only(admin)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    login_page = client.get(response["Location"])
    assert login_page.status_code == 302
    assert login_page["Location"] == "/login/"


def test_the_admin_login_form_cannot_be_used_to_bypass_the_lockout(admin):
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    response = client.post(
        "/admin/login/",
        {
            "username": admin.username,
            "password": admin.password,
            "otp_device": admin.device.persistent_id,
            "otp_token": totp_code(admin.device, 1),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/admin/").status_code == 302


def test_staff_sign_in_through_the_login_api_and_then_use_the_admin(admin):
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    response = client.post(
        "/api/v1/auth/login",
        {"username": admin.username, "password": admin.password, "otp": totp_code(admin.device, 1)},
        format="json",
    )
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 200


def test_auditors_may_look_but_not_change(auditor, alice):
    user = auditor.user
    assert user.has_perm("accounts.view_reviewer")
    assert user.has_perm("audit.view_accessevent")
    for perm in ("accounts.change_reviewer", "facilities.change_facility", "audit.delete_accessevent"):
        assert not user.has_perm(perm)
    client = verified_client(auditor)
    assert client.get("/admin/accounts/reviewer/").status_code == 200
    response = client.post("/admin/accounts/reviewer/", {"action": "suspend", "_selected_action": [alice.reviewer.pk]})
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "active"
    assert response.status_code == 200  # the change list again, no action run


def test_an_admin_suspends_a_reviewer_with_an_action(admin_client, alice):
    reviewer_client = verified_client(alice)
    assert reviewer_client.get(REVIEWER_ME).status_code == 200
    response = admin_client.post(
        "/admin/accounts/reviewer/", {"action": "suspend", "_selected_action": [alice.reviewer.pk]}
    )
    assert response.status_code == 302
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "suspended"
    assert reviewer_client.get(REVIEWER_ME).status_code == 401
    event = last_event("reviewer.suspend")
    assert (event.actor_kind, event.actor_label) == ("admin", "admin@reviewsvc.example")


def test_an_admin_deactivates_a_facility_with_an_action(admin_client, alice, facility_a):
    reviewer_client = verified_client(alice)
    response = admin_client.post(
        "/admin/facilities/facility/", {"action": "deactivate", "_selected_action": [facility_a.pk]}
    )
    assert response.status_code == 302
    assert not Facility.objects.get(pk=facility_a.pk).active
    assert reviewer_client.get(REVIEWER_ME).status_code == 401
    assert last_event("facility.deactivate").facility_id == facility_a.pk


def test_totp_seeds_are_never_shown_and_plaintext_devices_cannot_be_made(admin_client, alice):
    page = admin_client.get(f"/admin/accounts/encryptedtotpdevice/{alice.device.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    seed = alice.device.bin_key
    assert seed.hex() not in html
    assert alice.device.manual_key() not in html
    assert "sealed_seed" not in html
    assert "wrapped_key" not in html
    assert not django_admin.site.is_registered(TOTPDevice)
    assert admin_client.get("/admin/accounts/encryptedtotpdevice/add/").status_code == 403


def test_an_action_the_service_refuses_changes_nothing_and_tells_the_admin(admin_client, alice):
    before = len(events())
    response = admin_client.post(
        "/admin/accounts/reviewer/", {"action": "reinstate", "_selected_action": [alice.reviewer.pk]}, follow=True
    )
    assert "is active, not suspended" in response.content.decode()
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "active"
    assert len(events()) == before
