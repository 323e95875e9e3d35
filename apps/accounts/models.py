from __future__ import annotations

import hashlib
import re
import time
import uuid
from base64 import b32encode
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession, BaseSessionManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from apps.common.clients import ApiClient
from reviewsvc.validation import is_language_tag

SCOPES = ("clips:ingest", "subjects:manage", "transcripts:read")


def hash_api_key(secret: str) -> str:
    # The key is 256 random bits, so one fast hash is enough: no dictionary to attack.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(ApiClient, models.Model):
    """A service client's key. Only its hash is stored; the key is shown once at creation."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Reviewers, vetting, invites, devices, login throttling -----------------------------------
TOTP_SEED_BYTES = 20
TOTP_STEP = 30
TOTP_DIGITS = 6
# Exactly six ASCII digits: int() would also take "１２３４５６", " 123456 " and "1_23456".
OTP_FORMAT = re.compile(r"[0-9]{6}", re.ASCII)


def validate_languages(value) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and is_language_tag(v) for v in value):
        raise ValidationError('A non-empty list of BCP 47 language tags, e.g. ["de-DE", "en-US"].')


class ReviewerStatus(models.TextChoices):
    INVITED = "invited"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Reviewer(models.Model):
    """A vetted contractor bound to one facility. Username of the user = the invited e-mail."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer")
    facility = models.ForeignKey("facilities.Facility", on_delete=models.PROTECT, related_name="reviewers")
    languages = models.JSONField(
        default=list, validators=[validate_languages], help_text='BCP 47 tags, e.g. ["de-DE", "en-US"].'
    )
    vetted_until = models.DateField()
    status = models.CharField(max_length=12, choices=ReviewerStatus.choices, default=ReviewerStatus.INVITED)
    # Bumped to end every session of this reviewer at once; sessions carry the epoch they began in.
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    offboarded_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.user.get_username()


class VettingCheck(models.TextChoices):
    BACKGROUND_CHECK = "background_check"
    CONFIDENTIALITY_AGREEMENT = "confidentiality_agreement"
    TRAINING = "training"


class VettingRecord(models.Model):
    """What was checked about a reviewer, by whom, when and until when. Entered in the admin."""

    reviewer = models.ForeignKey(Reviewer, on_delete=models.CASCADE, related_name="vetting_records")
    kind = models.CharField(max_length=32, choices=VettingCheck.choices, help_text="What was checked.")
    checked_by = models.CharField(max_length=150, help_text="Who did the check (person or agency).")
    checked_at = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    notes = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.reviewer} on {self.checked_at}"


class Invite(models.Model):
    """A single-use enrolment link. Only the SHA-256 of its 256-bit token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    used_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"invite for {self.user} ({self.created_at:%Y-%m-%d %H:%M})"


class EncryptedTOTPDevice(TimestampMixin, ThrottlingMixin, Device):
    """A TOTP authenticator whose seed exists in the database only as envelope ciphertext.

    django-otp's ``TOTPDevice`` keeps the seed as plaintext hex; here the seed is sealed with a
    per-device data key wrapped by the key provider, bound to this device's ``seal_id`` and its
    user, so a sealed seed copied to another row does not open. Tolerance is one step either
    way (±30 s) and drift is never learned, so the accepted window never widens. ``last_t``
    makes each code work once; ``django_otp.verify_token`` locks the row so that holds under
    concurrency too.
    """

    seal_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sealed_seed = models.BinaryField(editable=False)
    wrapped_key = models.BinaryField(editable=False)
    key_version = models.PositiveIntegerField(editable=False, db_index=True)
    tolerance = models.PositiveSmallIntegerField(default=1, editable=False)
    last_t = models.BigIntegerField(default=-1, editable=False)

    class Meta(Device.Meta):
        verbose_name = "TOTP device (encrypted)"

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"

    # -- sealing --
    def seal_context(self) -> dict:
        return {"kind": "totp", "object_id": str(self.seal_id), "subject_id": f"user:{self.user_id}"}

    def set_seed(self, seed: bytes) -> None:
        from apps.common.keys import key_provider
        from reviewsvc.crypto import envelope

        sealed = envelope.seal(seed, provider=key_provider(), **self.seal_context())
        self.sealed_seed = bytes(sealed.blob)
        self.wrapped_key = sealed.wrapped_key
        self.key_version = sealed.key_version

    @property
    def bin_key(self) -> bytes:
        from apps.common.keys import key_provider
        from reviewsvc.crypto import envelope

        return envelope.open(
            bytes(self.sealed_seed), provider=key_provider(), wrapped_key=bytes(self.wrapped_key), **self.seal_context()
        )

    # -- the django-otp Device API --
    def _totp(self, key: bytes) -> TOTP:
        totp = TOTP(key, TOTP_STEP, 0, TOTP_DIGITS, 0)
        totp.time = time.time()
        return totp

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        verified = False
        if isinstance(token, str) and OTP_FORMAT.fullmatch(token):
            totp = self._totp(self.bin_key)
            verified = totp.verify(int(token), self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified

    def is_replay(self, token: str) -> bool:
        """Was ``token`` valid for a step already used? (Only to name the event; never to accept.)"""
        if not (isinstance(token, str) and OTP_FORMAT.fullmatch(token)) or self.last_t < 0:
            return False
        totp = self._totp(self.bin_key)
        now_t = totp.t()
        for t in range(now_t - self.tolerance, min(now_t + self.tolerance, self.last_t) + 1):
            totp.drift = t - now_t
            if totp.token() == int(token):
                return True
        return False

    def otpauth_uri(self) -> str:
        issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "reviewsvc")).replace(":", "")
        label = f"{issuer}:{self.user.get_username()}"
        params = urlencode(
            {"secret": self.manual_key(), "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_STEP}
        )
        return f"otpauth://totp/{quote(label)}?{params}&issuer={quote(issuer)}"

    def manual_key(self) -> str:
        return b32encode(self.bin_key).decode("ascii").rstrip("=")


class LoginThrottle(models.Model):
    """Failed logins per submitted username, existing or not, keyed by a hash of the name.

    Counting per address would be bypassed by rotating ``X-Forwarded-For``; counting per
    username holds however the guesses are spread.
    """

    username_digest = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.username_digest[:12]}… ({self.failures} failures)"


class WebAuthnChallenge(models.Model):
    """One WebAuthn ceremony's challenge: used at most once, dead after a few minutes.

    Kept in the database rather than the session, so the statement that consumes it (a DELETE)
    is also the lock: two requests carrying one assertion cannot both pass.
    """

    challenge_digest = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=16)  # register | authenticate
    # What the ceremony is bound to: the hash of the invite token or of the submitted username.
    bound_to = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.purpose} challenge {self.challenge_digest[:12]}…"


class NetworkThrottle(models.Model):
    """Sign-in attempts from outside every facility and admin network, per source network.

    Kept apart from ``LoginThrottle``: an outsider's guesses never count against a username, so
    they cannot lock a reviewer at work out; they are refused before any password is hashed.
    ``network`` is ``reviewsvc.net.source_network`` of the client address (/24 or /56).
    """

    network = models.CharField(max_length=64, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.network}: {self.attempts}"


# Who a user is, read with the user row: the reviewer profile and its facility.
USER_JOINS = ("reviewer__facility",)
# The device kinds a session row joins; a mark of any other kind is read apart.
SESSION_DEVICE_FIELDS = ("totp_device", "webauthn_credential")
SESSION_JOINS = (*(f"user__{related}" for related in USER_JOINS), *SESSION_DEVICE_FIELDS)


def decimal_id(text: object) -> int | None:
    """A primary key as a session holds it (decimal text that fits a bigint), or None."""
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def device_mark_parts(mark: object) -> tuple[str, int] | None:
    """A session's device mark (django-otp's ``persistent_id``, "app.model/pk") as its model
    label and primary key; None for anything else."""
    if not isinstance(mark, str):
        return None
    label, _, pk = mark.rpartition("/")
    device_pk = decimal_id(pk)
    return (label, device_pk) if label and device_pk is not None else None


def _copied_id(to) -> models.ForeignKey:
    """A session row's copy of an id its data holds: joined on reads, never constrained."""
    return models.ForeignKey(
        to,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        editable=False,
    )


class AccountSessionManager(BaseSessionManager):
    def get_queryset(self) -> models.QuerySet:
        # Reading a session is reading who is asking: the user with their reviewer profile and
        # facility, and the device the session was verified with, come in the same query.
        return super().get_queryset().select_related(*SESSION_JOINS)


class AccountSession(AbstractBaseSession):
    """A session (``apps.accounts.session_store``): Django's encoded data, plus copies of the user
    id and the device mark it holds, written with it on every save.

    The copies only decide what the session read joins; ``apps.accounts.identity`` checks every
    joined row against the session's own data, as it would check rows it read itself. No
    database constraint: a deleted user or device leaves an id that joins nothing, which reads
    as absent, as the data naming it does.
    """

    user = _copied_id(settings.AUTH_USER_MODEL)
    totp_device = _copied_id(EncryptedTOTPDevice)
    webauthn_credential = _copied_id("django_otp_webauthn.WebAuthnCredential")

    objects = AccountSessionManager()

    @classmethod
    def device_field(cls, label: str) -> str | None:
        """The column that joins devices of the model ``label``, if the row joins that kind."""
        for field in SESSION_DEVICE_FIELDS:
            if cls._meta.get_field(field).related_model.model_label() == label:
                return field
        return None

    @classmethod
    def get_session_store_class(cls):
        from apps.accounts.session_store import SessionStore

        return SessionStore
