"""The invite page's live password feedback and its up-front word on used or expired links."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Invite
from apps.accounts.services import reviewer_invite
from apps.audit.models import AccessEvent
from tests.personas import ADDRESS_A, enrol, token_of

pytestmark = pytest.mark.django_db

GOOD = "Lantern-orbit-47-quartz"


@pytest.fixture
def invite_url(facility_a, system_context) -> str:
    _, url = reviewer_invite(
        email="Alice@Facility-A.example",
        facility_name=facility_a.name,
        languages=["de-DE"],
        vetted_until=timezone.localdate() + timedelta(days=30),
        context=system_context,
    )
    return url


def check(url: str, password, client: APIClient | None = None):
    client = client or APIClient(REMOTE_ADDR=ADDRESS_A)
    return client.post("/api/v1/invites/password-check", {"token": token_of(url), "password": password}, format="json")


def test_it_passes_a_password_the_validators_accept(invite_url):
    response = check(invite_url, GOOD)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "problems": []}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1", "too short"),
        ("x" * 129, "at most 128"),
        ("password1234", "too common"),
        ("alice@facility-a.example", "too similar"),
    ],
)
def test_it_names_each_rule_a_password_breaks(invite_url, password, fragment):
    body = check(invite_url, password).json()

    assert body["ok"] is False
    assert any(fragment in problem for problem in body["problems"]), body


def test_it_stores_and_logs_nothing(invite_url):
    events_before = AccessEvent.objects.count()

    check(invite_url, GOOD)

    invite = Invite.objects.get()
    assert invite.accepted_at is None
    assert not invite.user.has_usable_password()
    assert AccessEvent.objects.count() == events_before


def test_it_refuses_a_used_link(invite_url):
    enrol(invite_url, GOOD, ADDRESS_A)

    response = check(invite_url, GOOD)

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "invite_used"


def test_it_refuses_an_expired_link(invite_url):
    with time_machine.travel(timezone.now() + timedelta(hours=73)):
        response = check(invite_url, GOOD)

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "invite_expired"


def test_it_refuses_an_unknown_token(invite_url):
    response = check("http://x/invite/#" + "A" * 43, GOOD)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_refuses_a_call_without_the_csrf_token(invite_url):
    response = check(invite_url, GOOD, client=APIClient(REMOTE_ADDR=ADDRESS_A, enforce_csrf_checks=True))

    assert response.status_code == 403


@pytest.mark.parametrize("password", [123456789012, ["a" * 12], None, {"$ne": None}])
def test_it_refuses_a_password_that_is_not_a_string(invite_url, password):
    assert check(invite_url, password).status_code == 400


def test_the_page_is_one_shell_for_every_link_and_names_no_state(invite_url):
    """The server never sees the token (the fragment): the script asks, by a blank check."""
    enrol(invite_url, GOOD, ADDRESS_A)
    response = APIClient(REMOTE_ADDR=ADDRESS_A).get("/invite/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="accept-form"' in html
    assert 'id="invite-problem"' in html
    assert "already been used" not in html
    assert check(invite_url, "").json()["error"]["code"] == "invite_used"


def test_a_blank_check_of_an_open_link_reports_problems_and_stores_nothing(invite_url):
    response = check(invite_url, "")

    assert response.status_code == 200
    assert response.json()["ok"] is False
