"""Operator commands for accounts: invites, recovery, leaving; key rotation of TOTP seeds."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.accounts.demo import DEMO_REVIEWER, seed_demo_reviewer
from apps.accounts.models import EncryptedTOTPDevice, Reviewer
from apps.common.keys import key_provider
from apps.facilities.models import Facility
from tests.apps.accounts.support import REVIEWER_ME
from tests.conftest import retire_unused_key_versions
from tests.personas import enrol, totp_code, verified_client
from tests.support import last_event

pytestmark = pytest.mark.django_db


def run(name: str, *args) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def last_token(output: str) -> str:
    return output.strip().splitlines()[-1].split()[-1]


def test_the_first_admin_is_made_by_invite_staff_and_enrols_from_an_admin_network():
    url = last_token(run("invite_staff", "First@Reviewsvc.example", "--superuser"))
    assert url.startswith(settings.REVIEWSVC_SITE_URL + "/invite/")
    user = User.objects.get(username="first@reviewsvc.example")
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, False)
    enrol(url, "Granite-falcon-2031-x", "127.0.0.1")
    user.refresh_from_db()
    assert user.is_active


def test_an_auditor_joins_the_auditors_group():
    run("invite_staff", "audit@reviewsvc.example", "--auditor")
    assert User.objects.get(username="audit@reviewsvc.example").groups.filter(name="auditors").exists()


def test_an_auditor_cannot_also_be_superuser():
    with pytest.raises(CommandError, match="read-only"):
        run("invite_staff", "audit@reviewsvc.example", "--auditor", "--superuser")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-email", "--facility", "Facility A", "--language", "de-DE"], "e-mail"),
        (["x@facility-a.example", "--facility", "Nowhere", "--language", "de-DE"], "No facility"),
        (["x@facility-a.example", "--facility", "Facility A", "--language", "deutsch!"], "BCP 47"),
        (["alice@facility-a.example", "--facility", "Facility A", "--language", "de-DE"], "exists already"),
    ],
    ids=["bad-email", "unknown-facility", "bad-language", "existing-user"],
)
def test_invite_reviewer_refuses(alice, args, message):
    with pytest.raises(CommandError, match=message):
        run("invite_reviewer", *args, "--vetted-until", "2030-01-01")


def test_suspend_reviewer_command_ends_sessions_and_logs(alice):
    client = verified_client(alice)
    run("suspend_reviewer", "ALICE@facility-a.example")
    assert client.get(REVIEWER_ME).status_code == 401
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "suspended"
    assert last_event("reviewer.suspend").extra["username"] == alice.username


def test_offboard_reviewer_command_deletes_devices(alice):
    run("offboard_reviewer", alice.username)
    assert not EncryptedTOTPDevice.objects.filter(user=alice.user).exists()
    assert Reviewer.objects.get(pk=alice.reviewer.pk).offboarded_at is not None
    with pytest.raises(CommandError, match="offboarded"):
        run("reenrol_reviewer", alice.username)


def test_reenrol_reviewer_prints_a_new_invite_that_enrols_a_new_device(alice):
    url = last_token(run("reenrol_reviewer", alice.username))
    device = enrol(url, "Another-long-pass-2031", "10.1.5.5")
    assert device.pk != alice.device.pk
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "active"
    assert last_event("reviewer.reenrol").facility_id == alice.reviewer.facility_id


def test_commands_name_an_unknown_reviewer():
    for command in ("suspend_reviewer", "offboard_reviewer", "reenrol_reviewer"):
        with pytest.raises(CommandError, match="No reviewer"):
            run(command, "ghost@facility-a.example")


def test_master_key_rotation_rewraps_totp_seeds_and_codes_still_work(alice, bob):
    seeds = {alice.device.pk: alice.device.bin_key, bob.device.pk: bob.device.bin_key}
    old_version = key_provider().current_version()
    out = run("rotate_master_key")
    assert "totp_seeds 2" in out
    new_version = key_provider().current_version()
    retire_unused_key_versions()
    assert old_version not in key_provider().versions()
    for device in EncryptedTOTPDevice.objects.all():
        assert device.key_version == new_version
        assert device.bin_key == seeds[device.pk]
    device = EncryptedTOTPDevice.objects.get(pk=alice.device.pk)
    assert device.verify_token(totp_code(device, 1))


def test_seed_demo_reviewer_makes_the_loopback_facility_and_prints_an_invite_until_enrolled():
    first = io.StringIO()
    seed_demo_reviewer(first)
    facility = Facility.objects.get()
    assert facility.networks == ["127.0.0.0/8", "::1/128"]
    assert facility.regions == ["EU", "US"]
    url = last_token(first.getvalue())
    # The token is the fragment, which no browser sends: opening the link logs no token.
    assert url.startswith(settings.REVIEWSVC_SITE_URL + "/invite/#")
    second = io.StringIO()
    seed_demo_reviewer(second)
    again = last_token(second.getvalue())
    assert again != url  # a fresh link each run; the old one is retired
    assert Facility.objects.count() == 1
    enrol(again, "Demo-reviewer-pass-1", "::1")
    third = io.StringIO()
    seed_demo_reviewer(third)
    assert "/invite/" not in third.getvalue()
    assert Reviewer.objects.get(user__username=DEMO_REVIEWER).languages == ["en-US", "de-DE", "fr-FR"]


def test_argon2id_is_the_first_hasher_outside_tests():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert Argon2PasswordHasher().encode("x" * 12, "saltsaltsalt").startswith("argon2$argon2id$")


def test_an_admin_enters_a_vetting_record_and_it_names_who_recorded_it(admin, alice):
    from apps.accounts.models import VettingRecord

    client = verified_client(admin)
    today = timezone.localdate()
    response = client.post(
        f"/admin/accounts/reviewer/{alice.reviewer.pk}/change/",
        {
            "languages": '["de-DE", "en-US"]',
            "vetted_until": (today + timedelta(days=400)).isoformat(),
            "vetting_records-TOTAL_FORMS": "1",
            "vetting_records-INITIAL_FORMS": "0",
            "vetting_records-MIN_NUM_FORMS": "0",
            "vetting_records-MAX_NUM_FORMS": "1000",
            "vetting_records-0-kind": "background_check",
            "vetting_records-0-checked_by": "Vetting Agency GmbH",
            "vetting_records-0-checked_at": today.isoformat(),
            "vetting_records-0-valid_until": (today + timedelta(days=365)).isoformat(),
            "vetting_records-0-notes": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    record = VettingRecord.objects.get()
    assert (record.reviewer_id, record.kind, record.recorded_by_id) == (
        alice.reviewer.pk,
        "background_check",
        admin.user.pk,
    )
    assert str(record).startswith("Background Check of alice@facility-a.example")
    assert last_event("vetting.record").extra["kind"] == "background_check"
    assert "vetted_until" in last_event("reviewer.change").extra["fields"]
