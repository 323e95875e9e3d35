"""The /review/ page: a shell for verified sessions only, with nothing inline and nothing to download."""

from __future__ import annotations

import base64
import ipaddress
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp

from apps.accounts.models import EncryptedTOTPDevice
from apps.accounts.services import invite_accept, invite_confirm, reviewer_invite, session_start
from apps.common.context import RequestContext
from apps.facilities.models import Facility

pytestmark = pytest.mark.django_db
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
def reviewer_user():
    """An enrolled reviewer: own password, confirmed authenticator, active account."""
    context = RequestContext.system("tests")
    Facility.objects.create(name="Room 1", country="DE", networks=["127.0.0.0/8"], regions=["EU"])
    reviewer, url = reviewer_invite(
        email="rita@example.org",
        facility_name="Room 1",
        languages=["de-DE"],
        vetted_until=datetime.now(UTC).date() + timedelta(days=30),
        context=context,
    )
    token = url.split("#", 1)[1]
    enrolment = invite_accept(
        token=token, password="a long enough passphrase 1", client_address=LOOPBACK, context=context
    )
    key = base64.b32decode(enrolment.manual_key + "=" * (-len(enrolment.manual_key) % 8))
    return invite_confirm(token=token, otp=f"{totp(key):06d}", client_address=LOOPBACK, context=context)


def session_client(user, *, verified: bool) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session_start(session=session, user=user, now=timezone.now())
    if verified:
        session[DEVICE_ID_SESSION_KEY] = EncryptedTOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def test_it_sends_an_anonymous_visitor_to_the_login_page():
    response = Client().get("/review/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/review/"


def test_it_refuses_a_password_only_session(reviewer_user):
    response = session_client(reviewer_user, verified=False).get("/review/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_serves_the_workbench_to_a_verified_session(reviewer_user):
    response = session_client(reviewer_user, verified=True).get("/review/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="workbench"' in html
    assert "rita@example.org" in html
    assert "csrftoken" in response.cookies
    assert "no-store" in response["Cache-Control"]
    assert f'maxlength="{settings.REVIEWSVC_TRANSCRIPT_MAX_CHARS}"' in html


def test_its_page_holds_no_inline_script_style_or_handler_and_the_policy_forbids_them(reviewer_user):
    response = session_client(reviewer_user, verified=True).get("/review/")

    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"<style", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []


def test_it_offers_no_way_to_download_the_audio(reviewer_user):
    html = session_client(reviewer_user, verified=True).get("/review/").content.decode()

    audio = re.search(r"<audio[^>]*>", html).group(0)
    assert 'controlslist="nodownload' in audio
    assert " controls" not in audio.replace("controlslist", "")
    assert "download=" not in html
    assert re.findall(r"href=\"[^\"]*audio", html) == []


def test_it_refuses_other_methods(reviewer_user):
    response = session_client(reviewer_user, verified=True).post("/review/")

    assert response.status_code == 405


def test_its_flags_are_exactly_the_ones_the_transcript_service_accepts(reviewer_user):
    from apps.reviews.services import FLAG_LABELS, FLAGS

    html = session_client(reviewer_user, verified=True).get("/review/").content.decode()

    offered = re.findall(r'<input type="checkbox" name="flags" value="([^"]+)">', html)
    assert offered == list(FLAGS)
    assert set(FLAG_LABELS) == set(FLAGS)
    assert all(label in html for label in FLAG_LABELS.values())


def test_every_page_script_reads_the_csrf_cookie_through_the_one_shared_module(reviewer_user):
    static = settings.BASE_DIR / "static"
    readers = sorted(
        str(path.relative_to(static)) for path in static.rglob("*.js") if "document.cookie" in path.read_text()
    )
    html = session_client(reviewer_user, verified=True).get("/review/").content.decode()

    assert readers == ["common/csrf.js"]
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts[0].endswith("/common/csrf.js")
    assert len(scripts) == 2
