from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models

from apps.common.regions import regions_unknown, regions_unknown_message
from reviewsvc.hours import parse_hours
from reviewsvc.net import IPNetwork, parse_networks

# ISO 3166-1 alpha-2 officially assigned codes.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
    BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS
    IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM
    MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS
    PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK
    TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)


def validate_country(value: str) -> None:
    if value not in ISO_COUNTRIES:
        raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code.")


def validate_networks(value) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ValidationError("Networks must be a non-empty list of CIDRs.")
    try:
        parse_networks(value)
    except ValueError as exc:
        raise ValidationError(f"Invalid network: {exc}") from None


def validate_regions(value) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ValidationError("Regions must be a non-empty list.")
    if unknown := regions_unknown(value):
        raise ValidationError(regions_unknown_message(unknown))


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known time zone.") from None


def validate_hours(value: str) -> None:
    try:
        parse_hours(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


@lru_cache(maxsize=256)
def _parsed(networks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(parse_networks(networks))


class SecondFactor(models.TextChoices):
    """Which second factors count at a facility's sign-ins."""

    TOTP = "totp"
    WEBAUTHN = "webauthn"
    ANY = "any"


AAGUID_FORMAT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def validate_aaguids(value) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and AAGUID_FORMAT.fullmatch(v) for v in value):
        raise ValidationError("AAGUIDs must be a list of lower-case UUIDs.")


class Facility(models.Model):
    """A secure site reviewers work from. Reviewers reach data only from its networks."""

    name = models.CharField(max_length=100, unique=True)
    country = models.CharField(max_length=2, validators=[validate_country])
    networks = models.JSONField(validators=[validate_networks], help_text='CIDRs, e.g. ["10.1.0.0/16"].')
    regions = models.JSONField(validators=[validate_regions], help_text="Data-residency regions it may process.")
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    hours = models.CharField(
        max_length=200, blank=True, validators=[validate_hours], help_text="e.g. Mon-Fri 08:00-18:00"
    )
    active = models.BooleanField(default=True)
    second_factor = models.CharField(
        max_length=8,
        choices=SecondFactor.choices,
        default=SecondFactor.ANY,
        help_text="Which second factor its reviewers may sign in with.",
    )
    webauthn_aaguids = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_aaguids],
        help_text="Authenticator models (AAGUIDs) its reviewers may register; empty: any. Needs attestation.",
    )
    require_workstation = models.BooleanField(
        default=False, help_text="Every reviewer request must come from an enrolled workstation of this facility."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "facilities"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.hours and not self.timezone:
            raise ValidationError({"timezone": "Working hours need a time zone."})

    def parsed_networks(self) -> tuple[IPNetwork, ...]:
        # Parsed once per distinct list and process: this runs on every reviewer request.
        return _parsed(tuple(self.networks))


class Workstation(models.Model):
    """A machine the facility issued, known by the SHA-256 fingerprint of its client certificate.

    The reverse proxy checks that the client holds the certificate's key (TLS client auth); the
    service checks that the certificate is one enrolled here, and not revoked.
    """

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="workstations")
    name = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the certificate's DER, lower-case hex.")
    certificate_subject = models.CharField(max_length=300, blank=True)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["facility", "name"], name="workstation_name_per_facility"),
            models.UniqueConstraint(fields=["facility", "fingerprint"], name="workstation_cert_per_facility"),
        ]
        indexes = [models.Index(fields=["fingerprint"], name="workstation_fingerprint")]

    def __str__(self) -> str:
        return f"{self.name} ({self.facility_id})"
