"""Which second factor a facility accepts, and which authenticator models it takes."""

from __future__ import annotations

import pytest

from reviewsvc.policy import aaguid_allowed, second_factor_allowed

MODEL = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("policy", "factor", "allowed"),
    [
        ("totp", "totp", True),
        ("totp", "webauthn", False),
        ("webauthn", "webauthn", True),
        ("webauthn", "totp", False),
        ("any", "totp", True),
        ("any", "webauthn", True),
        (None, "totp", True),
        (None, "webauthn", True),
        ("any", "sms", False),
        ("bogus", "totp", False),
    ],
)
def test_a_facility_accepts_only_the_factors_it_names(policy, factor, allowed):
    assert second_factor_allowed(policy=policy, factor=factor) is allowed


def test_an_empty_allow_list_takes_any_authenticator_attested_or_not():
    assert aaguid_allowed(allowed=frozenset(), aaguid=MODEL, attested=False)


def test_a_pinned_model_needs_verified_attestation():
    pinned = frozenset({MODEL})
    assert aaguid_allowed(allowed=pinned, aaguid=MODEL.upper(), attested=True)
    assert not aaguid_allowed(allowed=pinned, aaguid=MODEL, attested=False)
    assert not aaguid_allowed(allowed=pinned, aaguid="99999999-2222-3333-4444-555555555555", attested=True)
