"""RFC 6238 known answers for the encrypted TOTP device and for the login that checks it.

Source: RFC 6238, "TOTP: Time-Based One-Time Password Algorithm", appendix B (test vectors), the
SHA-1 rows: seed = the 20 ASCII bytes "12345678901234567890", T0 = 0, X = 30 seconds, 8 digits.
The device shows six digits; RFC 4226 section 5.3 truncates to ``Snum mod 10^Digit``, so the
six-digit code is the last six digits of the table's eight.
"""

from __future__ import annotations

import pytest
import time_machine
from rest_framework.test import APIClient

from apps.accounts.models import TOTP_SEED_BYTES
from tests.apps.accounts.support import LOGIN
from tests.support import error_code, last_event

pytestmark = pytest.mark.django_db

RFC_SEED = b"12345678901234567890"

# (Unix time, TOTP with 8 digits) — RFC 6238 appendix B, mode SHA1.
APPENDIX_B_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
IDS = [str(when) for when, _ in APPENDIX_B_SHA1]


def six(code: str) -> str:
    return code[-6:]


@pytest.fixture
def rfc_device(admin):
    """The admin persona's confirmed device, re-seeded with the RFC's seed and never used."""
    device = admin.device
    device.set_seed(RFC_SEED)
    device.last_t = -1
    device.save()
    return device


def test_the_rfc_seed_has_the_length_enrolment_draws():
    assert len(RFC_SEED) == TOTP_SEED_BYTES


def test_the_enrolment_key_of_the_rfc_seed_is_its_base32(rfc_device):
    assert rfc_device.manual_key() == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30" in rfc_device.otpauth_uri()


@pytest.mark.parametrize(("when", "code"), APPENDIX_B_SHA1, ids=IDS)
def test_the_device_accepts_the_appendix_b_code_at_its_time_once(rfc_device, when, code):
    with time_machine.travel(when, tick=False):
        assert rfc_device.verify_token(six(code)) is True
        assert rfc_device.last_t == when // 30
        assert rfc_device.verify_token(six(code)) is False
        assert rfc_device.is_replay(six(code)) is True


@pytest.mark.parametrize("offset", [60, -60], ids=["two-steps-later", "two-steps-earlier"])
@pytest.mark.parametrize(("when", "code"), APPENDIX_B_SHA1, ids=IDS)
def test_the_device_refuses_the_appendix_b_code_two_steps_away(rfc_device, when, code, offset):
    with time_machine.travel(when + offset, tick=False):
        assert rfc_device.verify_token(six(code)) is False
    # Checked and counted as a failure, not turned away by the throttle.
    assert (rfc_device.last_t, rfc_device.throttling_failure_count) == (-1, 1)


def test_a_code_one_step_old_is_accepted_within_the_tolerance(rfc_device):
    # 1111111109 and 1111111111 fall in neighbouring steps (37037036 and 37037037).
    with time_machine.travel(1111111111, tick=False):
        assert rfc_device.verify_token("081804") is True
        assert rfc_device.last_t == 1111111109 // 30
        assert rfc_device.verify_token("050471") is True
        assert rfc_device.last_t == 1111111111 // 30
        # Once a step is used, no earlier step works again.
        assert rfc_device.verify_token("081804") is False


@pytest.mark.parametrize(("when", "code"), APPENDIX_B_SHA1, ids=IDS)
def test_the_login_accepts_the_appendix_b_code_at_its_time(admin, rfc_device, when, code):
    with time_machine.travel(when, tick=False):
        client = APIClient(REMOTE_ADDR=admin.address)
        response = client.post(
            LOGIN, {"username": admin.username, "password": admin.password, "otp": six(code)}, format="json"
        )
        assert response.status_code == 200, response.content
        assert last_event("auth.login").outcome == "granted"


@pytest.mark.parametrize(("when", "code"), APPENDIX_B_SHA1, ids=IDS)
def test_the_login_refuses_the_appendix_b_code_two_steps_later_as_a_bad_code(admin, rfc_device, when, code):
    with time_machine.travel(when + 60, tick=False):
        client = APIClient(REMOTE_ADDR=admin.address)
        response = client.post(
            LOGIN, {"username": admin.username, "password": admin.password, "otp": six(code)}, format="json"
        )
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")
    assert last_event("auth.login_failed").reason == "bad_otp"
