"""Named personas, built through the real services (invite, accept, confirm), and their clients.

Registered for every test by ``pytest_plugins = ["tests.personas"]`` in tests/conftest.py.

Facilities
    ``facility_a``   "Facility A", DE, 10.1.0.0/16, regions {EU}, Europe/Berlin, Mon-Fri 08:00-18:00
    ``facility_b``   "Facility B", US, 10.2.0.0/16, regions {US}, America/New_York

Personas (each a ``Persona``: ``user``, ``password``, ``device``, ``reviewer`` or None, ``address``)
    ``alice``        reviewer alice@facility-a.example at A, de-DE and en-US, vetted for a year
    ``bob``          reviewer bob@facility-b.example at B, en-US, vetted for a year
    ``carol``        reviewer carol@facility-a.example at A, vetting expired yesterday
    ``dave``         reviewer dave@facility-a.example at A, enrolled, then suspended
    ``admin``        staff superuser admin@reviewsvc.example
    ``auditor``      staff auditor@reviewsvc.example in group ``auditors``

Clients (rest_framework APIClient, logged in through Django's ``login`` with the persona's
device recorded as django-otp's verified device, REMOTE_ADDR inside their network)
    ``alice_client``, ``bob_client``, ``carol_client``, ``dave_client``  from 10.1.2.3 / 10.2.3.4
    ``admin_client``, ``auditor_client``                                  from 127.0.0.1
    ``password_only_client``   alice, logged in without the OTP step (is_verified() is False)

Helpers for other tests: ``totp_code(device, steps=0)`` (the code of the current step, or a
neighbour), ``verified_client(persona, address=None)``, ``password_only(persona, address=None)``,
``enrol(url, password, address)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from rest_framework.test import APIClient

from apps.accounts.models import TOTP_DIGITS, TOTP_STEP, EncryptedTOTPDevice, Invite, Reviewer
from apps.accounts.services import (
    hash_invite_token,
    invite_accept,
    invite_confirm,
    reviewer_invite,
    reviewer_suspend,
    staff_invite,
)
from apps.common.context import RequestContext
from apps.facilities.models import Facility
from apps.facilities.services import facility_create
from reviewsvc.net import parse_address

ADDRESS_A = "10.1.2.3"
ADDRESS_B = "10.2.3.4"
ADDRESS_ADMIN = "127.0.0.1"
ADDRESS_OUTSIDE = "203.0.113.9"


@dataclass(frozen=True)
class Persona:
    user: User
    password: str
    device: EncryptedTOTPDevice
    reviewer: Reviewer | None
    address: str

    @property
    def username(self) -> str:
        return self.user.get_username()


def _password_for(email: str) -> str:
    # Not similar to the e-mail (UserAttributeSimilarityValidator) and not a common password.
    return "Staple-Horse-" + hashlib.sha256(email.encode()).hexdigest()[:10]


def _context() -> RequestContext:
    return RequestContext.system("tests.personas")


def totp_code(device: EncryptedTOTPDevice, steps: int = 0) -> str:
    """The device's code for the current time step (+ ``steps``), as the authenticator shows it."""
    totp = TOTP(device.bin_key, TOTP_STEP, 0, TOTP_DIGITS, steps)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():0{TOTP_DIGITS}d}"


def token_of(url: str) -> str:
    """The token of an invite link ``…/invite/#<token>``: its fragment."""
    return url.split("#", 1)[1]


def enrol(url: str, password: str, address: str) -> EncryptedTOTPDevice:
    """Accept an invite and confirm it with the new device's current code, as a person would."""
    token = token_of(url)
    client_address = parse_address(address)
    invite_accept(token=token, password=password, client_address=client_address, context=_context())
    user = Invite.objects.get(token_hash=hash_invite_token(token)).user
    device = EncryptedTOTPDevice.objects.get(user=user, confirmed=False)
    invite_confirm(token=token, otp=totp_code(device), client_address=client_address, context=_context())
    device.refresh_from_db()
    return device


def make_reviewer(*, email: str, facility: Facility, address: str, languages=("en-US",), vetted_days: int = 365):
    password = _password_for(email)
    reviewer, url = reviewer_invite(
        email=email,
        facility_name=facility.name,
        languages=list(languages),
        vetted_until=timezone.localdate() + timedelta(days=vetted_days),
        context=_context(),
    )
    device = enrol(url, password, address)
    reviewer.refresh_from_db()
    return Persona(
        user=User.objects.get(pk=reviewer.user_id), password=password, device=device, reviewer=reviewer, address=address
    )


def make_staff(*, email: str, auditor: bool = False, superuser: bool = False) -> Persona:
    password = _password_for(email)
    user, url = staff_invite(email=email, auditor=auditor, superuser=superuser, context=_context())
    device = enrol(url, password, ADDRESS_ADMIN)
    return Persona(
        user=User.objects.get(pk=user.pk), password=password, device=device, reviewer=None, address=ADDRESS_ADMIN
    )


def password_only(persona: Persona, address: str | None = None) -> APIClient:
    """Logged in with Django's ``login`` (the session clock starts), but never through OTP."""
    client = APIClient(REMOTE_ADDR=address or persona.address)
    client.force_login(persona.user)
    return client


def verified_client(persona: Persona, address: str | None = None) -> APIClient:
    """A session that passed password and OTP, as ``POST /auth/login`` leaves it."""
    client = password_only(persona, address)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = persona.device.persistent_id
    session.save()
    return client


@pytest.fixture
def facility_a(db) -> Facility:
    return facility_create(
        name="Facility A",
        country="DE",
        networks=["10.1.0.0/16"],
        regions=["EU"],
        timezone="Europe/Berlin",
        hours="Mon-Fri 08:00-18:00",
        context=_context(),
    )


@pytest.fixture
def facility_b(db) -> Facility:
    return facility_create(
        name="Facility B",
        country="US",
        networks=["10.2.0.0/16"],
        regions=["US"],
        timezone="America/New_York",
        context=_context(),
    )


@pytest.fixture
def alice(facility_a) -> Persona:
    return make_reviewer(
        email="alice@facility-a.example", facility=facility_a, address=ADDRESS_A, languages=("de-DE", "en-US")
    )


@pytest.fixture
def bob(facility_b) -> Persona:
    return make_reviewer(email="bob@facility-b.example", facility=facility_b, address=ADDRESS_B)


@pytest.fixture
def carol(facility_a) -> Persona:
    return make_reviewer(email="carol@facility-a.example", facility=facility_a, address=ADDRESS_A, vetted_days=-1)


@pytest.fixture
def dave(facility_a) -> Persona:
    persona = make_reviewer(email="dave@facility-a.example", facility=facility_a, address=ADDRESS_A)
    reviewer_suspend(email=persona.username, context=_context())
    persona.reviewer.refresh_from_db()
    return persona


@pytest.fixture
def admin(db) -> Persona:
    return make_staff(email="admin@reviewsvc.example", superuser=True)


@pytest.fixture
def auditor(db) -> Persona:
    return make_staff(email="auditor@reviewsvc.example", auditor=True)


@pytest.fixture
def alice_client(alice) -> APIClient:
    return verified_client(alice)


@pytest.fixture
def bob_client(bob) -> APIClient:
    return verified_client(bob)


@pytest.fixture
def carol_client(carol) -> APIClient:
    return verified_client(carol)


@pytest.fixture
def dave_client(dave) -> APIClient:
    return verified_client(dave)


@pytest.fixture
def password_only_client(alice) -> APIClient:
    return password_only(alice)


@pytest.fixture
def admin_client(admin) -> APIClient:
    return verified_client(admin)


@pytest.fixture
def auditor_client(auditor) -> APIClient:
    return verified_client(auditor)
