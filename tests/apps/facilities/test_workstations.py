"""Enrolled workstations: the commands, and the check on every reviewer request and sign-in."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.facilities.models import Facility, Workstation
from apps.facilities.services import facility_sign_in_change, workstation_enrol, workstation_revoke
from tests.apps.accounts.support import LOGIN, REVIEWER_ME
from tests.certs import CertificateAuthority
from tests.personas import ADDRESS_A, totp_code, verified_client
from tests.support import error_code, events, ingest_clip, last_event

pytestmark = pytest.mark.django_db

PROXY = "10.9.0.1"
CA = CertificateAuthority()
WS_01, WS_02, STRANGER = CA.issue("ws-01"), CA.issue("ws-02"), CA.issue("home-laptop")


def header(issued) -> str:
    return ":" + base64.b64encode(issued.der).decode() + ":"


@pytest.fixture(autouse=True)
def _proxy(settings):
    settings.REVIEWSVC_TRUSTED_PROXIES = ["10.9.0.0/24"]


@pytest.fixture
def bound_a(facility_a, alice, system_context):
    facility_sign_in_change(facility=facility_a, require_workstation=True, context=system_context)
    workstation_enrol(facility=facility_a, name="ws-01", certificate_pem=WS_01.pem, context=system_context)
    return facility_a


@pytest.fixture
def system_context():
    from apps.common.context import RequestContext

    return RequestContext.system("tests")


def via_proxy(client, path: str, cert=None, *, method: str = "get", **extra):
    headers = {"HTTP_X_FORWARDED_FOR": ADDRESS_A, **extra}
    if cert is not None:
        headers["HTTP_CLIENT_CERT"] = header(cert)
    return getattr(client, method)(path, **headers)


def test_a_request_from_an_enrolled_workstation_of_the_facility_passes(bound_a, alice):
    response = via_proxy(verified_client(alice, address=PROXY), REVIEWER_ME, WS_01)
    assert response.status_code == 200


@pytest.mark.parametrize("cert", [None, STRANGER, WS_02], ids=["no certificate", "unknown", "other facility's"])
def test_a_request_without_an_enrolled_workstation_is_refused_and_logged(
    bound_a, alice, facility_b, system_context, cert
):
    workstation_enrol(facility=facility_b, name="ws-02", certificate_pem=WS_02.pem, context=system_context)
    response = via_proxy(verified_client(alice, address=PROXY), REVIEWER_ME, cert)
    assert (response.status_code, error_code(response)) == (403, "workstation_not_enrolled")
    denied = last_event("request.denied")
    assert (denied.outcome, denied.reason, denied.facility_name) == ("denied", "workstation_not_enrolled", "Facility A")
    if cert is not None:
        assert denied.extra["certificate"] == hashlib.sha256(cert.der).hexdigest()


def test_a_revoked_workstation_is_refused_from_the_next_request_on(bound_a, alice, system_context):
    client = verified_client(alice, address=PROXY)
    assert via_proxy(client, REVIEWER_ME, WS_01).status_code == 200
    workstation_revoke(facility=bound_a, name="ws-01", context=system_context)
    response = via_proxy(client, REVIEWER_ME, WS_01)
    assert (response.status_code, error_code(response)) == (403, "workstation_not_enrolled")


def test_a_certificate_header_the_client_sent_itself_never_counts(bound_a, alice):
    client = verified_client(alice, address=ADDRESS_A)
    response = client.get(REVIEWER_ME, HTTP_CLIENT_CERT=header(WS_01))
    assert (response.status_code, error_code(response)) == (403, "workstation_not_enrolled")


def test_a_facility_without_the_requirement_ignores_certificates(alice):
    assert verified_client(alice).get(REVIEWER_ME).status_code == 200


def test_every_access_event_of_the_request_names_the_workstation(bound_a, alice):
    ingest_clip(subject_id="subject-ws", language="de-DE")
    response = via_proxy(verified_client(alice, address=PROXY), "/api/v1/review/next", WS_01, method="post")
    assert response.status_code == 200, response.content
    lease = last_event("review.lease")
    assert lease.extra["workstation"] == "ws-01"
    assert lease.client_address == ADDRESS_A


def test_the_auditors_see_the_workstations_a_reviewer_worked_from(bound_a, alice):
    from apps.accounts.selectors import reviewer_devices

    assert reviewer_devices(user=alice.user).workstations == ()
    ingest_clip(subject_id="subject-ws", language="de-DE")
    via_proxy(verified_client(alice, address=PROXY), "/api/v1/review/next", WS_01, method="post")
    devices = reviewer_devices(user=alice.user)
    assert [(w.name, w.facility_name) for w in devices.workstations] == [("ws-01", "Facility A")]
    assert devices.workstations[0].events >= 1
    assert (devices.totp_enrolled, devices.keys) == (True, ())


def test_a_correct_password_and_code_from_a_non_enrolled_device_get_nothing(bound_a, alice):
    from rest_framework.test import APIClient

    client = APIClient(REMOTE_ADDR=PROXY)
    body = {"username": alice.username, "password": alice.password, "otp": totp_code(alice.device, 1)}
    response = client.post(LOGIN, body, format="json", HTTP_X_FORWARDED_FOR=ADDRESS_A)
    assert (response.status_code, error_code(response)) == (403, "workstation_not_enrolled")
    assert last_event("auth.login").reason == "workstation_not_enrolled"
    assert client.get(REVIEWER_ME).status_code == 401
    # The code was spent by the refused attempt; the enrolled workstation signs in a minute later.
    with time_machine.travel(timezone.now() + timedelta(seconds=90)):
        body["otp"] = totp_code(alice.device, 0)
        response = client.post(
            LOGIN, body, format="json", HTTP_X_FORWARDED_FOR=ADDRESS_A, HTTP_CLIENT_CERT=header(WS_01)
        )
    assert response.status_code == 200, response.json()
    assert events("auth.login", outcome="granted")


# --- Commands ----------------------------------------------------------------------------------
def test_the_operator_enrols_lists_and_revokes_workstations(facility_a, tmp_path, capsys):
    cert = tmp_path / "ws-01.pem"
    cert.write_bytes(WS_01.pem)
    call_command("enrol_workstation", "Facility A", "ws-01", "--cert", str(cert))
    fingerprint = Workstation.objects.get(name="ws-01").fingerprint
    assert capsys.readouterr().out.split()[-1] == fingerprint
    call_command("list_workstations", "Facility A")
    assert f"Facility A\tws-01\tenrolled\tsha256:{fingerprint}" in capsys.readouterr().out
    call_command("revoke_workstation", "Facility A", "ws-01")
    call_command("list_workstations")
    assert "\tws-01\trevoked " in capsys.readouterr().out
    assert last_event("workstation.revoke").extra == {"workstation": "ws-01", "fingerprint": fingerprint}


def test_enrolment_refuses_a_file_without_a_certificate_and_a_second_name(facility_a, tmp_path):
    bad = tmp_path / "key.pem"
    bad.write_bytes(WS_01.key_pem)
    with pytest.raises(CommandError, match="no PEM certificate"):
        call_command("enrol_workstation", "Facility A", "ws-01", "--cert", str(bad))
    good = tmp_path / "ws.pem"
    good.write_bytes(WS_01.pem)
    call_command("enrol_workstation", "Facility A", "ws-01", "--cert", str(good))
    with pytest.raises(CommandError, match="already"):
        call_command("enrol_workstation", "Facility A", "ws-01", "--cert", str(good))
    with pytest.raises(CommandError, match="No facility"):
        call_command("revoke_workstation", "Nowhere", "ws-01")
    with pytest.raises(CommandError, match="no enrolled workstation"):
        call_command("revoke_workstation", "Facility A", "ws-99")


def test_create_and_change_facility_set_the_sign_in_rules(db, capsys):
    call_command(
        "create_facility",
        "Facility K",
        "--country",
        "DE",
        "--network",
        "10.7.0.0/16",
        "--region",
        "EU",
        "--second-factor",
        "webauthn",
        "--require-workstation",
    )
    facility = Facility.objects.get(name="Facility K")
    assert (facility.second_factor, facility.require_workstation) == ("webauthn", True)
    call_command(
        "change_facility",
        "Facility K",
        "--second-factor",
        "any",
        "--no-require-workstation",
        "--aaguid",
        "11111111-2222-3333-4444-555555555555",
    )
    facility.refresh_from_db()
    assert (facility.second_factor, facility.require_workstation) == ("any", False)
    assert facility.webauthn_aaguids == ["11111111-2222-3333-4444-555555555555"]
    call_command("change_facility", "Facility K", "--any-authenticator")
    facility.refresh_from_db()
    assert facility.webauthn_aaguids == []
    with pytest.raises(CommandError, match="Not an AAGUID"):
        call_command("change_facility", "Facility K", "--aaguid", "yubikey")


def test_a_change_of_second_factor_ends_the_reviewers_sessions(alice, facility_a, system_context):
    client = verified_client(alice)
    assert client.get(REVIEWER_ME).status_code == 200
    facility_sign_in_change(facility=facility_a, second_factor="webauthn", context=system_context)
    assert client.get(REVIEWER_ME).status_code == 401


def test_the_admin_shows_workstations_and_keys_but_changes_neither(admin_client, facility_a, system_context):
    workstation = workstation_enrol(
        facility=facility_a, name="ws-01", certificate_pem=WS_01.pem, context=system_context
    )
    listing = admin_client.get("/admin/facilities/workstation/")
    assert listing.status_code == 200
    assert b"ws-01" in listing.content
    admin_client.post(f"/admin/facilities/workstation/{workstation.pk}/delete/", {"post": "yes"})
    assert Workstation.objects.filter(pk=workstation.pk, revoked_at=None).exists()
    assert admin_client.get("/admin/django_otp_webauthn/webauthncredential/").status_code == 200
    assert admin_client.get("/admin/django_otp_webauthn/webauthncredential/add/").status_code == 403
    form = admin_client.get(f"/admin/facilities/facility/{facility_a.pk}/change/")
    assert b'name="second_factor"' not in form.content
