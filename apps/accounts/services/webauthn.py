"""Security keys and passkeys (WebAuthn) as a second factor, through django-otp-webauthn.

The package's ``WebAuthnCredential`` is the django-otp device, so ``django_otp.login`` marks a
session verified exactly as with TOTP, and its helper holds the relying party (RP ID and name,
allowed origins: see settings). Its views are not used: they keep ceremony state in the session
and sign in on their own, whereas here a key's assertion is one part of the one-step login
(password + second factor) and keys are registered while enrolling with an invite. Passwordless
login is off.

Origin and RP binding: py_webauthn checks the assertion's origin against the configured site
origin and its RP ID hash against the configured RP ID, so an assertion made for a look-alike
site is refused (that is what makes a key phishing-resistant where a TOTP code is not).

Challenges are rows used at most once: the DELETE that consumes one is its lock, so one assertion
sent twice at once passes once; the signature counter alone would not stop that, since many
passkeys keep it at 0. A counter that does not grow (a cloned key) is refused by name.

Account enumeration: assertion options are asked for by username before any password is checked.
A name with keys gets its keys' ids; any other name (unknown, TOTP-only, not yet enrolled) gets
one decoy id, a MAC of the name under the key provider, so it is the same on every ask and looks
like a key's. Transports are left out of every descriptor, since a decoy could not guess them.
Both paths run the same two queries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from webauthn import generate_authentication_options, verify_authentication_response, verify_registration_response
from webauthn.helpers import (
    options_to_json_dict,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    PublicKeyCredentialDescriptor,
    UserVerificationRequirement,
)

from apps.accounts.models import Reviewer, WebAuthnChallenge
from apps.audit.services import event_record, event_record_denied
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from reviewsvc.errors import ServiceError
from reviewsvc.policy import aaguid_allowed, second_factor_allowed
from reviewsvc.policy.signin import FACTOR_WEBAUTHN

CHALLENGE_VALID = timedelta(minutes=5)
PURPOSE_REGISTER = "register"
PURPOSE_AUTHENTICATE = "authenticate"
DECOY_PURPOSE = "webauthn-decoy"
# A credential sent to us is a few kilobytes at most; the cap keeps a hostile body from the parser.
MAX_CREDENTIAL_JSON = 64 * 1024


class WebAuthnRefused(Exception):
    """A ceremony that does not pass; ``reason`` names why, for the event only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeyRegistration:
    credential: WebAuthnCredential
    attested: bool


class _RelyingParty(WebAuthnHelper):
    """The package's helper, asked for direct attestation where authenticator models are pinned."""

    def __init__(self, *, attestation: bool = False) -> None:
        super().__init__(request=None)
        self.attestation = attestation

    def get_attestation_conveyance_preference(self) -> AttestationConveyancePreference:
        return AttestationConveyancePreference.DIRECT if self.attestation else AttestationConveyancePreference.NONE


def _digest(value: bytes | str) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _challenge_store(*, challenge_b64url: str, purpose: str, bound_to: str) -> None:
    now = timezone.now()
    # Expired challenges go as new ones come, so the table holds only the last few minutes.
    WebAuthnChallenge.objects.filter(expires_at__lte=now).delete()
    WebAuthnChallenge.objects.create(
        challenge_digest=_digest(challenge_b64url), purpose=purpose, bound_to=bound_to, expires_at=now + CHALLENGE_VALID
    )


def _challenge_consume(*, data: dict, purpose: str, bound_to: str) -> bytes:
    """The challenge the client signed, if it is ours, for this ceremony, and unused; used up now."""
    try:
        client_data = json.loads(_b64url_decode(data["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
        if not isinstance(challenge, str):
            raise TypeError
        raw = _b64url_decode(challenge)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise WebAuthnRefused("webauthn_malformed") from None
    deleted, _ = WebAuthnChallenge.objects.filter(
        challenge_digest=_digest(_b64url(raw)), purpose=purpose, bound_to=bound_to, expires_at__gt=timezone.now()
    ).delete()
    if not deleted:
        raise WebAuthnRefused("webauthn_bad_challenge")
    return raw


def _b64url_decode(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def credential_json_ok(data: object) -> bool:
    return isinstance(data, dict) and len(json.dumps(data)) <= MAX_CREDENTIAL_JSON


# --- Registration -----------------------------------------------------------------------------
def registration_options(*, user: User, bound_to: str, attestation: bool) -> dict:
    """Creation options for a new key of ``user`` (the browser's ``parseCreationOptionsFromJSON``)."""
    options, _ = _RelyingParty(attestation=attestation).register_begin(user=user)
    _challenge_store(challenge_b64url=options["challenge"], purpose=PURPOSE_REGISTER, bound_to=bound_to)
    return options


def _attestation_roots() -> list[bytes]:
    path = settings.REVIEWSVC_WEBAUTHN_ATTESTATION_ROOTS
    if not path:
        return []
    text = Path(path).read_bytes()
    marker = b"-----END CERTIFICATE-----"
    return [block + marker + b"\n" for block in text.split(marker) if b"-----BEGIN CERTIFICATE-----" in block]


def credential_register(*, user: User, bound_to: str, data: dict, allowed_aaguids: frozenset[str]) -> KeyRegistration:
    """Verify a new key's registration and store it, confirmed. Raises ``WebAuthnRefused``.

    With an allow-list of authenticator models, the attestation must chain to a configured root
    (``REVIEWSVC_WEBAUTHN_ATTESTATION_ROOTS``): an unattested or self-attested key could claim
    any model.
    """
    if not credential_json_ok(data):
        raise WebAuthnRefused("webauthn_malformed")
    challenge = _challenge_consume(data=data, purpose=PURPOSE_REGISTER, bound_to=bound_to)
    helper = _RelyingParty(attestation=bool(allowed_aaguids))
    roots = _attestation_roots() if allowed_aaguids else []
    if allowed_aaguids and not roots:
        raise WebAuthnRefused("attestation_roots_missing")
    try:
        credential = parse_registration_credential_json(data)
        attestation = parse_attestation_object(credential.response.attestation_object)
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=helper.get_relying_party_domain(),
            expected_origin=helper.get_allowed_origins(),
            pem_root_certs_bytes_by_fmt={fmt: roots for fmt in AttestationFormat} if roots else None,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        raise WebAuthnRefused("webauthn_bad_registration") from None
    attested = bool(roots) and attestation.fmt != AttestationFormat.NONE and bool(attestation.att_stmt.x5c)
    if not aaguid_allowed(allowed=allowed_aaguids, aaguid=verified.aaguid, attested=attested):
        raise WebAuthnRefused("authenticator_not_allowed")
    with transaction.atomic():
        if WebAuthnCredential.objects.filter(
            credential_id_sha256=WebAuthnCredential.get_credential_id_sha256(verified.credential_id)
        ).exists():
            raise WebAuthnRefused("webauthn_key_registered")
        device = helper.create_credential(user, verified, credential, data)
        device.name = "security key"
        device.confirmed = True
        device.save()
        helper.create_attestation(device, verified.attestation_object, credential.response.client_data_json)
    return KeyRegistration(credential=device, attested=attested)


KEY_REFUSED = "The security key's registration did not pass; try again."
KEY_REFUSALS = {
    "authenticator_not_allowed": "Your facility does not accept this model of security key.",
    "attestation_roots_missing": "Your facility pins security key models, but no vendor roots are configured.",
    "webauthn_key_registered": "This security key is registered already.",
}


def key_rules(*, user: User) -> frozenset[str]:
    """May ``user`` register keys at all? Returns their facility's AAGUID allow-list (empty: any)."""
    reviewer = Reviewer.objects.select_related("facility").filter(user=user).first()
    if reviewer is None:
        return frozenset()  # staff: no facility, either factor
    if not second_factor_allowed(policy=reviewer.facility.second_factor, factor=FACTOR_WEBAUTHN):
        raise ServiceError("validation_error", "Security keys do not count at your facility: use an authenticator app.")
    return frozenset(reviewer.facility.webauthn_aaguids)


def own_key_options(*, user: User) -> dict:
    """Creation options for one more key of a signed-in person (a spare, or a passkey)."""
    allowed = key_rules(user=user)
    return registration_options(user=user, bound_to=_own_binding(user), attestation=bool(allowed))


def own_key_add(*, user: User, credential: dict, context: RequestContext) -> KeyRegistration:
    """Register one more key of a signed-in person; a refused key leaves a ``denied`` event."""
    allowed = key_rules(user=user)
    facility_id = Reviewer.objects.filter(user=user).values_list("facility_id", flat=True).first()
    try:
        with transaction.atomic():
            registration = credential_register(
                user=user, bound_to=_own_binding(user), data=credential, allowed_aaguids=allowed
            )
            event_record(
                action="device.change",
                context=context,
                facility_id=facility_id,
                extra={
                    "username": user.get_username(),
                    "change": "security key added",
                    "aaguid": registration.credential.aaguid,
                    "attested": registration.attested,
                },
            )
    except WebAuthnRefused as refused:
        event_record_denied(
            action="device.change",
            context=context,
            reason=refused.reason,
            facility_id=facility_id,
            extra={"username": user.get_username()},
        )
        raise ServiceError("validation_error", key_refusal_message(refused.reason)) from None
    return registration


def key_refusal_message(reason: str) -> str:
    return KEY_REFUSALS.get(reason, KEY_REFUSED)


def _own_binding(user: User) -> str:
    return _digest(f"user:{user.pk}")


# --- Sign-in ----------------------------------------------------------------------------------
def _decoy_descriptors(bound_to: str) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=key_provider().mac(DECOY_PURPOSE, bound_to.encode()))]


def assertion_options(*, user: User | None, bound_to: str) -> dict:
    """Request options for a sign-in by the name whose digest is ``bound_to`` (see the module doc)."""
    ids = (
        list(WebAuthnCredential.objects.filter(user=user, confirmed=True).values_list("credential_id", flat=True))
        if user is not None
        else []
    )
    descriptors = [PublicKeyCredentialDescriptor(id=bytes(value)) for value in ids] or _decoy_descriptors(bound_to)
    helper = _RelyingParty()
    options = generate_authentication_options(
        rp_id=helper.get_relying_party_domain(),
        challenge=secrets.token_bytes(32),
        timeout=settings.OTP_WEBAUTHN_TIMEOUT_SECONDS * 1000,
        allow_credentials=descriptors,
        # The password is the first factor; the key proves possession, as a TOTP code does.
        user_verification=UserVerificationRequirement.DISCOURAGED,
    )
    body = options_to_json_dict(options)
    _challenge_store(challenge_b64url=body["challenge"], purpose=PURPOSE_AUTHENTICATE, bound_to=bound_to)
    return body


def assertion_verify(*, user: User, bound_to: str, data: object) -> WebAuthnCredential:
    """The user's key that signed this assertion for our challenge, origin and RP; counter updated.

    Raises ``WebAuthnRefused`` naming the reason: ``webauthn_other_user`` for a key registered
    to someone else, ``webauthn_counter_regression`` for a counter that did not grow.
    """
    if not credential_json_ok(data):
        raise WebAuthnRefused("webauthn_malformed")
    assert isinstance(data, dict)  # noqa: S101 - narrowed by credential_json_ok
    challenge = _challenge_consume(data=data, purpose=PURPOSE_AUTHENTICATE, bound_to=bound_to)
    try:
        credential = parse_authentication_credential_json(data)
        new_count = parse_authenticator_data(credential.response.authenticator_data).sign_count
    except (WebAuthnException, KeyError, TypeError, ValueError):
        raise WebAuthnRefused("webauthn_malformed") from None
    helper = _RelyingParty()
    with transaction.atomic():
        device = (
            WebAuthnCredential.objects.select_for_update()
            .filter(credential_id_sha256=WebAuthnCredential.get_credential_id_sha256(credential.raw_id), confirmed=True)
            .first()
        )
        if device is None:
            raise WebAuthnRefused("webauthn_unknown_key")
        if device.user_id != user.pk:
            raise WebAuthnRefused("webauthn_other_user")
        try:
            # The counter is checked below, after the signature: a regression then means a
            # genuine key's clone, and the event says so.
            verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=helper.get_relying_party_domain(),
                expected_origin=helper.get_allowed_origins(),
                credential_public_key=bytes(device.public_key),
                credential_current_sign_count=0,
                require_user_verification=False,
            )
        except (WebAuthnException, KeyError, TypeError, ValueError):
            raise WebAuthnRefused("webauthn_bad_signature") from None
        if (new_count > 0 or device.sign_count > 0) and new_count <= device.sign_count:
            raise WebAuthnRefused("webauthn_counter_regression")
        device.sign_count = new_count
        device.set_last_used_timestamp(commit=False)
        device.save(update_fields=["sign_count", "last_used_at"])
    return device


def user_keys_remove(*, user: User) -> int:
    """Delete every key of ``user`` (with its attestation); returns how many keys went."""
    _, per_model = WebAuthnCredential.objects.filter(user=user).delete()
    return per_model.get(WebAuthnCredential._meta.label, 0)
