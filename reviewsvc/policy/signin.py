"""Which second factor may sign a person in: the facility decides, the factor is checked here.

``totp`` and ``webauthn`` facilities accept only that factor; ``any`` accepts both. Staff belong
to no facility and may use either. A security key is bound to this origin and relying party, so
unlike a TOTP code it cannot be phished and relayed in real time.
"""

from __future__ import annotations

FACTOR_TOTP = "totp"
FACTOR_WEBAUTHN = "webauthn"
ANY_FACTOR = "any"
FACTORS = frozenset({FACTOR_TOTP, FACTOR_WEBAUTHN})
POLICIES = frozenset({FACTOR_TOTP, FACTOR_WEBAUTHN, ANY_FACTOR})


def second_factor_allowed(*, policy: str | None, factor: str) -> bool:
    """``policy``: the facility's setting, None for staff. Unknown values allow nothing."""
    if factor not in FACTORS:
        return False
    if policy is None or policy == ANY_FACTOR:
        return True
    return policy == factor


def aaguid_allowed(*, allowed: frozenset[str], aaguid: str, attested: bool) -> bool:
    """An empty allow-list takes any authenticator; a non-empty one needs verified attestation."""
    if not allowed:
        return True
    return attested and aaguid.lower() in allowed
