"""Sign-in floods from outside every facility network: throttled per source network before any
password hash, and counted apart from in-facility attempts."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import LoginThrottle, NetworkThrottle
from tests.apps.accounts.test_login import login
from tests.personas import ADDRESS_A, ADDRESS_ADMIN
from tests.support import error_code, events

pytestmark = pytest.mark.django_db
LIMIT = 5


@pytest.fixture(autouse=True)
def small_cap(settings):
    settings.REVIEWSVC_LOGIN_OUTSIDE_MAX_ATTEMPTS = LIMIT
    settings.REVIEWSVC_LOGIN_MAX_FAILURES = 3


def flood(persona, *, addresses, password="wrong-password-guess"):
    return [login(persona, password=password, address=address)[1] for address in addresses]


def test_an_outsider_guessing_a_reviewers_name_cannot_lock_her_out(alice):
    answers = flood(alice, addresses=[f"203.0.113.{n}" for n in range(1, 20)])

    assert [r.status_code for r in answers[: LIMIT - 1]] == [403] * (LIMIT - 1)
    assert {error_code(r) for r in answers[LIMIT - 1 :]} == {"too_many_attempts"}
    assert not LoginThrottle.objects.exists()  # nothing counted against the name
    _, at_work = login(alice, address=ADDRESS_A)
    assert at_work.status_code == 200


def test_past_the_cap_the_network_writes_one_lockout_event_and_then_nothing(alice):
    flood(alice, addresses=["203.0.113.7"] * (LIMIT + 10))

    refused = [e for e in events("auth.login_failed") if e.reason == "outside_facility_network"]
    assert len(refused) == LIMIT - 1
    [lockout] = events("auth.lockout")
    assert (lockout.reason, lockout.extra["source_network"], lockout.extra["attempts"]) == (
        "too_many_attempts",
        "203.0.113.0/24",
        LIMIT,
    )
    assert NetworkThrottle.objects.get(network="203.0.113.0/24").attempts == LIMIT + 10


def test_an_outsiders_attempt_hashes_no_password_and_looks_up_no_user(alice):
    with (
        mock.patch.object(User, "check_password", side_effect=AssertionError("hashed")),
        mock.patch.object(User, "set_password", side_effect=AssertionError("hashed")),
    ):
        answers = flood(alice, addresses=["198.51.100.1"] * (LIMIT + 2))
        right = login(alice, address="198.51.100.2")[1]

    assert {r.status_code for r in answers} == {403, 429}
    # The right password from outside gets the same answer: no oracle for a credential guess.
    assert right.status_code == 429


def test_other_networks_are_counted_apart_and_a_slash_24_or_slash_56_shares_one_counter(alice):
    flood(alice, addresses=["203.0.113.1", "203.0.113.99", "2001:db8:0:1aa::1", "2001:db8:0:1bb::2"])
    assert dict(NetworkThrottle.objects.values_list("network", "attempts")) == {
        "203.0.113.0/24": 2,
        "2001:db8:0:100::/56": 2,
    }
    assert login(alice, password="x", address="198.51.100.9")[1].status_code == 403


def test_the_outsiders_counter_starts_again_after_the_window(alice, settings):
    flood(alice, addresses=["203.0.113.7"] * LIMIT)
    assert login(alice, address="203.0.113.7")[1].status_code == 429
    later = timezone.now() + timedelta(seconds=settings.REVIEWSVC_LOGIN_WINDOW_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert login(alice, password="x", address="203.0.113.7")[1].status_code == 403


def test_in_facility_attempts_keep_the_per_username_lockout(alice):
    answers = flood(alice, addresses=[ADDRESS_A] * 4)
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert not NetworkThrottle.objects.exists()


def test_staff_sign_ins_from_the_admin_networks_count_per_username(admin):
    answers = flood(admin, addresses=[ADDRESS_ADMIN] * 4)
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert LoginThrottle.objects.count() == 1
    assert not NetworkThrottle.objects.exists()
