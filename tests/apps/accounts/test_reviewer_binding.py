"""Every reviewer request proves again: OTP, active, vetted, facility active, from its network."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import reviewer_suspend
from apps.common.context import RequestContext
from apps.facilities.services import facility_activate, facility_deactivate
from tests.apps.accounts.support import REVIEWER_ME
from tests.personas import ADDRESS_B, ADDRESS_OUTSIDE, verified_client
from tests.support import error_code, events, last_event

pytestmark = pytest.mark.django_db


def test_a_vetted_reviewer_at_their_facility_gets_through(alice_client):
    response = alice_client.get(REVIEWER_ME)
    assert response.status_code == 200
    assert response.json() == {
        "username": "alice@facility-a.example",
        "facility": "Facility A",
        "country": "DE",
        "languages": ["de-DE", "en-US"],
        "regions": ["EU"],
    }
    assert not events("request.denied")


def test_it_refuses_a_session_without_any_login():
    response = APIClient(REMOTE_ADDR="10.1.2.3").get(REVIEWER_ME)
    assert response.status_code == 401
    assert error_code(response) == "authentication_required"


def test_it_refuses_a_password_only_session_and_logs_it(password_only_client, alice):
    response = password_only_client.get(REVIEWER_ME)
    assert response.status_code == 403
    assert error_code(response) == "otp_required"
    event = last_event("request.denied")
    assert (event.outcome, event.reason, event.actor_label) == ("denied", "otp_required", alice.username)
    assert event.extra["path"] == REVIEWER_ME


def test_it_refuses_expired_vetting_on_the_next_request(carol_client, facility_a):
    response = carol_client.get(REVIEWER_ME)
    assert response.status_code == 403
    assert error_code(response) == "vetting_expired"
    event = last_event("request.denied")
    assert (event.reason, event.facility_id) == ("vetting_expired", facility_a.pk)


def test_it_refuses_a_suspended_reviewer(dave_client):
    response = dave_client.get(REVIEWER_ME)
    assert response.status_code == 403
    assert error_code(response) == "account_suspended"
    assert last_event("request.denied").reason == "account_suspended"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_FORWARDED_FOR": "10.1.2.3"},
        {"HTTP_X_FORWARDED_FOR": "10.1.2.3, 10.1.2.4"},
        {"HTTP_FORWARDED": "for=10.1.2.3"},
        {"HTTP_X_REAL_IP": "10.1.2.3"},
    ],
    ids=["plain", "xff", "two-xff", "forwarded", "x-real-ip"],
)
def test_it_refuses_a_verified_session_replayed_from_outside_the_facility(alice, headers):
    client = verified_client(alice, address=ADDRESS_OUTSIDE)
    response = client.get(REVIEWER_ME, **headers)
    assert response.status_code == 403
    assert error_code(response) == "outside_facility_network"
    event = last_event("request.denied")
    assert (event.reason, event.client_address) == ("outside_facility_network", ADDRESS_OUTSIDE)


def test_it_refuses_a_reviewer_at_another_facilitys_network(alice):
    response = verified_client(alice, address=ADDRESS_B).get(REVIEWER_ME)
    assert response.status_code == 403
    assert error_code(response) == "outside_facility_network"


def test_an_ipv4_mapped_ipv6_peer_counts_as_its_ipv4_address(alice):
    response = verified_client(alice, address="::ffff:10.1.9.9").get(REVIEWER_ME)
    assert response.status_code == 200


def test_suspension_ends_every_session_at_once(alice, system_context):
    first, second = verified_client(alice), verified_client(alice)
    assert first.get(REVIEWER_ME).status_code == 200
    reviewer_suspend(email=alice.username, context=system_context)
    for client in (first, second):
        response = client.get(REVIEWER_ME)
        assert response.status_code == 401
        assert error_code(response) == "authentication_required"
    assert last_event("reviewer.suspend").actor_kind == "system"


def test_facility_deactivation_ends_sessions_and_refuses_new_ones(alice, facility_a, system_context):
    client = verified_client(alice)
    assert client.get(REVIEWER_ME).status_code == 200
    facility_deactivate(facility=facility_a, context=RequestContext.system("tests"))
    assert client.get(REVIEWER_ME).status_code == 401
    fresh = verified_client(alice)
    response = fresh.get(REVIEWER_ME)
    assert response.status_code == 403
    assert error_code(response) == "facility_inactive"
    assert last_event("request.denied").reason == "facility_inactive"


def test_staff_are_not_reviewers(admin_client):
    response = admin_client.get(REVIEWER_ME)
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    assert last_event("request.denied").reason == "permission_denied"


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [("203.0.113.9, 10.1.2.3", 200), ("10.1.2.3, 203.0.113.9", 403), ("10.1.2.3, 192.0.2.10", 200)],
    ids=["client-inside", "spoofed-left-entry", "two-proxies"],
)
def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_decides(alice, settings, forwarded, status):
    settings.REVIEWSVC_TRUSTED_PROXIES = ["192.0.2.0/24"]
    client = verified_client(alice, address="192.0.2.1")
    response = client.get(REVIEWER_ME, HTTP_X_FORWARDED_FOR=forwarded)
    assert response.status_code == status
    if status == 403:
        assert last_event("request.denied").client_address == "203.0.113.9"


def test_a_reactivated_facility_lets_its_reviewers_work_again(alice, facility_a):
    facility_deactivate(facility=facility_a, context=RequestContext.system("tests"))
    facility_activate(facility=facility_a, context=RequestContext.system("tests"))
    assert facility_a.active
    assert verified_client(alice).get(REVIEWER_ME).status_code == 200
    assert last_event("facility.activate").facility_name == "Facility A"
