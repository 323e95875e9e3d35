"""Security keys as the second factor: registered at enrolment, used in the one-step login."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential
from rest_framework.test import APIClient

from apps.accounts.models import WebAuthnChallenge
from apps.accounts.services import invite_accept, reviewer_invite, reviewer_reenrol
from apps.common.context import RequestContext
from apps.facilities.services import facility_sign_in_change
from tests.apps.accounts.support import LOGIN
from tests.personas import ADDRESS_A, ADDRESS_B, token_of, totp_code
from tests.softkey import AttestationCA, SoftKey
from tests.support import error_code, events, last_event

pytestmark = pytest.mark.django_db

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"
PASSWORD = "Staple-Horse-keys-0042"
KEY_OPTIONS = "/api/v1/invites/webauthn/options"
KEY_REGISTER = "/api/v1/invites/webauthn/register"
LOGIN_OPTIONS = "/api/v1/auth/webauthn/options"
SYSTEM = RequestContext.system("tests")
MODEL_A = "11111111-2222-3333-4444-555555555555"
MODEL_B = "99999999-8888-7777-6666-555555555555"


@pytest.fixture(autouse=True)
def _relying_party(settings):
    settings.OTP_WEBAUTHN_RP_ID = RP_ID
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]


def invited(facility, email: str) -> str:
    _, url = reviewer_invite(
        email=email,
        facility_name=facility.name,
        languages=["en-US"],
        vetted_until=timezone.localdate() + timedelta(days=30),
        context=SYSTEM,
    )
    token = token_of(url)
    from reviewsvc.net import parse_address

    invite_accept(token=token, password=PASSWORD, client_address=parse_address(ADDRESS_A), context=SYSTEM)
    return token


def register(token: str, key: SoftKey, *, address: str = ADDRESS_A, attestation: AttestationCA | None = None):
    client = APIClient(REMOTE_ADDR=address)
    options = client.post(KEY_OPTIONS, {"token": token}, format="json")
    assert options.status_code == 200, options.json()
    return options.json(), client.post(
        KEY_REGISTER,
        {"token": token, "credential": key.register(options.json(), attestation=attestation)},
        format="json",
    )


def key_reviewer(facility, email: str = "kim@facility-a.example") -> tuple[str, SoftKey]:
    key = SoftKey(origin=ORIGIN, rp_id=RP_ID)
    _, response = register(invited(facility, email), key)
    assert response.status_code == 200, response.json()
    return email, key


def key_login(email: str, key: SoftKey, *, address: str = ADDRESS_A, password: str = PASSWORD, **assertion):
    client = APIClient(REMOTE_ADDR=address)
    options = client.post(LOGIN_OPTIONS, {"username": email}, format="json").json()
    body = {"username": email, "password": password, "webauthn": key.sign_in(options, **assertion)}
    return client, client.post(LOGIN, body, format="json")


def test_a_reviewer_registers_a_key_at_enrolment_and_signs_in_with_password_and_key(facility_a):
    email, key = key_reviewer(facility_a)
    assert WebAuthnCredential.objects.get(user__username=email).confirmed
    assert last_event("device.change").extra["change"] == "security key enrolled"
    client, response = key_login(email, key)
    assert response.status_code == 200, response.json()
    assert client.get("/api/v1/auth/reviewer").status_code == 200
    assert last_event("auth.login").extra["factor"] == "webauthn"
    from apps.accounts.selectors import reviewer_devices

    devices = reviewer_devices(user=User.objects.get(username=email))
    assert devices.totp_enrolled is False
    assert [(k.attestation_format, k.sign_count) for k in devices.keys] == [("none", 1)]
    assert devices.keys[0].last_used_at is not None


def test_a_totp_sign_in_records_its_factor(alice):
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        LOGIN,
        {"username": alice.username, "password": alice.password, "otp": totp_code(alice.device, 1)},
        format="json",
    )
    assert response.status_code == 200
    assert last_event("auth.login").extra["factor"] == "totp"


def test_a_key_facility_refuses_a_correct_password_and_totp_code(alice, facility_a):
    facility_sign_in_change(facility=facility_a, second_factor="webauthn", context=SYSTEM)
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        LOGIN,
        {"username": alice.username, "password": alice.password, "otp": totp_code(alice.device, 1)},
        format="json",
    )
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    denied = last_event("auth.login_failed")
    assert (denied.outcome, denied.reason) == ("denied", "totp_not_allowed")
    assert not events("auth.login")


def test_a_totp_facility_refuses_a_key_sign_in(facility_a):
    email, key = key_reviewer(facility_a)
    facility_sign_in_change(facility=facility_a, second_factor="totp", context=SYSTEM)
    _, response = key_login(email, key)
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "webauthn_not_allowed"


def test_a_key_facility_refuses_to_confirm_an_authenticator_app_at_enrolment(facility_a):
    from apps.accounts.models import EncryptedTOTPDevice

    facility_sign_in_change(facility=facility_a, second_factor="webauthn", context=SYSTEM)
    token = invited(facility_a, "kim@facility-a.example")
    device = EncryptedTOTPDevice.objects.get(user__username="kim@facility-a.example")
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        "/api/v1/invites/confirm", {"token": token, "otp": totp_code(device)}, format="json"
    )
    assert response.status_code == 400


def test_a_key_whose_counter_does_not_grow_is_refused(facility_a):
    email, key = key_reviewer(facility_a)
    assert key_login(email, key, count=5)[1].status_code == 200
    _, response = key_login(email, key, count=5)
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "webauthn_counter_regression"
    _, response = key_login(email, key, count=3)
    assert response.status_code == 401
    assert WebAuthnCredential.objects.get(user__username=email).sign_count == 5


def test_another_users_key_is_refused(facility_a):
    kim, _ = key_reviewer(facility_a, "kim@facility-a.example")
    _, lee_key = key_reviewer(facility_a, "lee@facility-a.example")
    _, response = key_login(kim, lee_key)
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "webauthn_other_user"


def test_an_assertion_made_for_another_origin_or_relying_party_is_refused(facility_a):
    email, key = key_reviewer(facility_a)
    _, response = key_login(email, key, origin="https://reviewsvc.example.net")
    assert response.status_code == 401
    assert last_event("auth.login_failed").reason == "webauthn_bad_signature"
    _, response = key_login(email, key, rp_id="example.net")
    assert response.status_code == 401


def test_one_assertion_counts_once(facility_a):
    email, key = key_reviewer(facility_a)
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    options = client.post(LOGIN_OPTIONS, {"username": email}, format="json").json()
    body = {"username": email, "password": PASSWORD, "webauthn": key.sign_in(options, count=0)}
    assert client.post(LOGIN, body, format="json").status_code == 200
    again = APIClient(REMOTE_ADDR=ADDRESS_A).post(LOGIN, body, format="json")
    assert again.status_code == 401
    assert last_event("auth.login_failed").reason == "webauthn_bad_challenge"


def test_a_wrong_password_with_a_good_key_is_refused_like_any_wrong_part(facility_a):
    email, key = key_reviewer(facility_a)
    _, response = key_login(email, key, password="not-the-password-123")
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "bad_password"


def test_key_options_tell_nobody_which_names_exist(facility_a, alice):
    email, _ = key_reviewer(facility_a)
    client = APIClient(REMOTE_ADDR=ADDRESS_B)

    def options(name):
        response = client.post(LOGIN_OPTIONS, {"username": name}, format="json")
        assert response.status_code == 200
        return response.json()

    known, unknown, totp_only = options(email), options("nobody@example.org"), options(alice.username)
    assert set(known) == set(unknown) == set(totp_only)
    for body in (known, unknown, totp_only):
        assert len(body["allowCredentials"]) == 1
        assert set(body["allowCredentials"][0]) == {"id", "type"}
    # A decoy is stable, so asking twice shows no difference either.
    assert options("nobody@example.org")["allowCredentials"] == unknown["allowCredentials"]
    assert unknown["allowCredentials"] != totp_only["allowCredentials"]
    assert unknown["challenge"] != options("nobody@example.org")["challenge"]


@pytest.mark.parametrize(
    "credential", [{"response": "x"}, {"id": 1, "response": {"clientDataJSON": "%%%"}}, {"a": "b" * 70000}]
)
def test_a_malformed_assertion_is_refused_with_invalid_credentials(facility_a, credential):
    email, _ = key_reviewer(facility_a)
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        LOGIN, {"username": email, "password": PASSWORD, "webauthn": credential}, format="json"
    )
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "webauthn_malformed"


def test_login_takes_exactly_one_second_factor(facility_a):
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        LOGIN, {"username": "x@example.org", "password": PASSWORD, "otp": "123456", "webauthn": {}}, format="json"
    )
    assert response.status_code == 400
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(
        LOGIN, {"username": "x@example.org", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400


def test_a_key_registration_from_outside_the_facility_network_is_refused(facility_a):
    token = invited(facility_a, "kim@facility-a.example")
    response = APIClient(REMOTE_ADDR=ADDRESS_B).post(KEY_OPTIONS, {"token": token}, format="json")
    assert (response.status_code, error_code(response)) == (403, "outside_facility_network")


def test_a_key_registered_for_another_origin_is_refused_and_logged(facility_a):
    token = invited(facility_a, "kim@facility-a.example")
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    options = client.post(KEY_OPTIONS, {"token": token}, format="json").json()
    key = SoftKey(origin="https://phish.example", rp_id=RP_ID)
    response = client.post(KEY_REGISTER, {"token": token, "credential": key.register(options)}, format="json")
    assert response.status_code == 400
    assert last_event("invite.key").reason == "webauthn_bad_registration"
    assert not WebAuthnCredential.objects.exists()


def test_a_totp_facility_offers_no_key_registration(facility_a):
    facility_sign_in_change(facility=facility_a, second_factor="totp", context=SYSTEM)
    token = invited(facility_a, "kim@facility-a.example")
    response = APIClient(REMOTE_ADDR=ADDRESS_A).post(KEY_OPTIONS, {"token": token}, format="json")
    assert response.status_code == 400


def test_reenrolment_removes_every_key(facility_a):
    email, key = key_reviewer(facility_a)
    assert WebAuthnCredential.objects.filter(user__username=email).count() == 1
    reviewer_reenrol(email=email, context=SYSTEM)
    assert not WebAuthnCredential.objects.filter(user__username=email).exists()
    assert last_event("device.change").extra["security_keys"] == 1


def test_expired_challenges_are_cleared_as_new_ones_come(facility_a):
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    client.post(LOGIN_OPTIONS, {"username": "a@example.org"}, format="json")
    WebAuthnChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.post(LOGIN_OPTIONS, {"username": "b@example.org"}, format="json")
    assert WebAuthnChallenge.objects.count() == 1


# --- Pinned authenticator models -----------------------------------------------------------------
@pytest.fixture
def vendor(settings, tmp_path):
    ca = AttestationCA()
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.root_pem())
    settings.REVIEWSVC_WEBAUTHN_ATTESTATION_ROOTS = str(roots)
    return ca


def test_a_pinned_model_with_verified_attestation_registers(facility_a, vendor):
    facility_sign_in_change(facility=facility_a, webauthn_aaguids=[MODEL_A], context=SYSTEM)
    options, response = register(
        invited(facility_a, "kim@facility-a.example"), SoftKey(ORIGIN, RP_ID, aaguid=MODEL_A), attestation=vendor
    )
    assert options["attestation"] == "direct"
    assert response.status_code == 200, response.json()
    assert last_event("device.change").extra["attested"] is True
    from apps.accounts.selectors import reviewer_devices

    (key,) = reviewer_devices(user=User.objects.get(username="kim@facility-a.example")).keys
    assert (key.aaguid, key.attestation_format) == (MODEL_A, "packed")


def test_a_model_not_on_the_list_is_refused(facility_a, vendor):
    facility_sign_in_change(facility=facility_a, webauthn_aaguids=[MODEL_A], context=SYSTEM)
    _, response = register(
        invited(facility_a, "kim@facility-a.example"), SoftKey(ORIGIN, RP_ID, aaguid=MODEL_B), attestation=vendor
    )
    assert response.status_code == 400
    assert last_event("invite.key").reason == "authenticator_not_allowed"


def test_an_unattested_key_claiming_a_pinned_model_is_refused(facility_a, vendor):
    facility_sign_in_change(facility=facility_a, webauthn_aaguids=[MODEL_A], context=SYSTEM)
    _, response = register(invited(facility_a, "kim@facility-a.example"), SoftKey(ORIGIN, RP_ID, aaguid=MODEL_A))
    assert response.status_code == 400
    assert last_event("invite.key").reason == "authenticator_not_allowed"


def test_attestation_from_an_unknown_vendor_is_refused(facility_a, vendor):
    facility_sign_in_change(facility=facility_a, webauthn_aaguids=[MODEL_A], context=SYSTEM)
    _, response = register(
        invited(facility_a, "kim@facility-a.example"),
        SoftKey(ORIGIN, RP_ID, aaguid=MODEL_A),
        attestation=AttestationCA(),
    )
    assert response.status_code == 400
    assert last_event("invite.key").reason == "webauthn_bad_registration"


def test_pinned_models_without_configured_vendor_roots_refuse_every_key(facility_a, settings):
    settings.REVIEWSVC_WEBAUTHN_ATTESTATION_ROOTS = ""
    facility_sign_in_change(facility=facility_a, webauthn_aaguids=[MODEL_A], context=SYSTEM)
    _, response = register(invited(facility_a, "kim@facility-a.example"), SoftKey(ORIGIN, RP_ID, aaguid=MODEL_A))
    assert response.status_code == 400
    assert last_event("invite.key").reason == "attestation_roots_missing"


# --- Keys added after sign-in ------------------------------------------------------------------
OWN_OPTIONS = "/api/v1/auth/webauthn/keys/options"
OWN_KEYS = "/api/v1/auth/webauthn/keys"


def add_key(client, key: SoftKey):
    options = client.post(OWN_OPTIONS, format="json")
    assert options.status_code == 200, options.json()
    return client.post(OWN_KEYS, {"credential": key.register(options.json())}, format="json")


def test_a_signed_in_reviewer_adds_a_key_and_then_signs_in_with_it(alice):
    from tests.personas import verified_client

    key = SoftKey(origin=ORIGIN, rp_id=RP_ID)
    response = add_key(verified_client(alice), key)
    assert response.status_code == 201, response.json()
    assert last_event("device.change").extra["change"] == "security key added"
    _, response = key_login(alice.username, key, password=alice.password)
    assert response.status_code == 200, response.json()


def test_staff_add_a_key_from_the_admin_networks_only(admin):
    from tests.personas import ADDRESS_OUTSIDE, verified_client

    key = SoftKey(origin=ORIGIN, rp_id=RP_ID)
    outside = verified_client(admin, address=ADDRESS_OUTSIDE).post(OWN_OPTIONS, format="json")
    assert (outside.status_code, error_code(outside)) == (403, "outside_facility_network")
    assert add_key(verified_client(admin), key).status_code == 201
    _, response = key_login(admin.username, key, address="127.0.0.1", password=admin.password)
    assert response.status_code == 200, response.json()
    assert last_event("auth.login").extra["factor"] == "webauthn"


def test_a_reviewer_adds_no_key_at_a_totp_facility_nor_from_outside_its_network(alice, facility_a):
    from tests.personas import ADDRESS_OUTSIDE, verified_client

    outside = verified_client(alice, address=ADDRESS_OUTSIDE).post(OWN_OPTIONS, format="json")
    assert (outside.status_code, error_code(outside)) == (403, "outside_facility_network")
    facility_sign_in_change(facility=facility_a, second_factor="totp", context=SYSTEM)
    response = verified_client(alice).post(OWN_OPTIONS, format="json")
    assert response.status_code == 400


def test_a_refused_added_key_is_logged(alice):
    from tests.personas import verified_client

    client = verified_client(alice)
    options = client.post(OWN_OPTIONS, format="json").json()
    forged = SoftKey(origin="https://phish.example", rp_id=RP_ID).register(options)
    response = client.post(OWN_KEYS, {"credential": forged}, format="json")
    assert response.status_code == 400
    denied = last_event("device.change")
    assert (denied.outcome, denied.reason) == ("denied", "webauthn_bad_registration")


def test_a_key_never_registered_is_refused(facility_a):
    email, _ = key_reviewer(facility_a)
    _, response = key_login(email, SoftKey(origin=ORIGIN, rp_id=RP_ID))
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "webauthn_unknown_key"


def test_one_key_registers_for_one_account_only(facility_a):
    _, key = key_reviewer(facility_a, "kim@facility-a.example")
    _, response = register(invited(facility_a, "lee@facility-a.example"), key)
    assert response.status_code == 400
    assert last_event("invite.key").reason == "webauthn_key_registered"
    assert WebAuthnCredential.objects.filter(user__username="lee@facility-a.example").count() == 0


def test_an_oversized_registration_is_refused_as_malformed(facility_a):
    token = invited(facility_a, "kim@facility-a.example")
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    assert client.post(KEY_OPTIONS, {"token": token}, format="json").status_code == 200
    response = client.post(KEY_REGISTER, {"token": token, "credential": {"a": "b" * 70000}}, format="json")
    assert response.status_code == 400
    assert last_event("invite.key").reason == "webauthn_malformed"
    assert not WebAuthnCredential.objects.exists()


def _b64url_json(value) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda signed: signed["response"].update(authenticatorData="AA"), id="short-authenticator-data"),
        pytest.param(
            lambda signed: signed["response"].update(clientDataJSON=_b64url_json({"challenge": 7})),
            id="challenge-not-text",
        ),
        pytest.param(
            lambda signed: signed["response"].update(clientDataJSON=_b64url_json({"challenge": None}) + "!"),
            id="client-data-not-base64",
        ),
        pytest.param(lambda signed: signed["response"].update(clientDataJSON=7), id="client-data-not-text"),
    ],
)
def test_a_signed_assertion_with_a_corrupted_part_is_refused_as_malformed(facility_a, corrupt):
    email, key = key_reviewer(facility_a)
    client = APIClient(REMOTE_ADDR=ADDRESS_A)
    options = client.post(LOGIN_OPTIONS, {"username": email}, format="json").json()
    signed = key.sign_in(options)
    corrupt(signed)
    response = client.post(LOGIN, {"username": email, "password": PASSWORD, "webauthn": signed}, format="json")
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "webauthn_malformed"
