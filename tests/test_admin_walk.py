"""Every admin change, action and delete either goes through a service that writes its event, or
is refused — walked over every model registered in the admin, superuser included."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Group, User
from django.test import RequestFactory
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from apps.accounts.models import ApiKey, EncryptedTOTPDevice, Invite, LoginThrottle, Reviewer
from apps.accounts.services import api_key_create, username_digest
from apps.audit.models import AccessEvent, Checkpoint
from apps.common.context import RequestContext
from apps.facilities.models import Facility, Workstation
from apps.reviews.models import Assignment, Transcript

pytestmark = pytest.mark.django_db

APPS = Path(__file__).resolve().parent.parent / "apps"


def url_of(model, suffix: str = "") -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"


def run_action(client, model, action: str, pk) -> None:
    response = client.post(url_of(model), {"action": action, "_selected_action": [pk]})
    assert response.status_code == 302, response.content.decode()[:500]


def change_a_reviewer(client, alice, facility_a, facility_b) -> None:
    today = timezone.localdate()
    response = client.post(
        url_of(Reviewer, f"{alice.reviewer.pk}/change/"),
        {
            "languages": '["en-US"]',
            "vetted_until": (today + timedelta(days=30)).isoformat(),
            "vetting_records-TOTAL_FORMS": "1",
            "vetting_records-INITIAL_FORMS": "0",
            "vetting_records-MIN_NUM_FORMS": "0",
            "vetting_records-MAX_NUM_FORMS": "1000",
            "vetting_records-0-kind": "training",
            "vetting_records-0-checked_by": "Trainer",
            "vetting_records-0-checked_at": today.isoformat(),
            "vetting_records-0-valid_until": "",
            "vetting_records-0-notes": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def facility_form(**changes) -> dict:
    form = {
        "name": "Facility C",
        "country": "FR",
        "networks": '["10.3.0.0/16"]',
        "regions": '["EU"]',
        "timezone": "Europe/Paris",
        "hours": "",
    }
    return form | changes


def add_a_facility(client, alice, facility_a, facility_b) -> None:
    response = client.post(url_of(Facility, "add/"), facility_form())
    assert response.status_code == 302, response.content.decode()[:2000]


def change_a_facility(client, alice, facility_a, facility_b) -> None:
    form = facility_form(name=facility_a.name, country=facility_a.country, networks=json.dumps(facility_a.networks))
    response = client.post(url_of(Facility, f"{facility_a.pk}/change/"), form)
    assert response.status_code == 302, response.content.decode()[:2000]


def lift_a_lockout(client, alice, facility_a, facility_b) -> None:
    throttle = LoginThrottle.objects.create(
        username_digest=username_digest("mallory@example.com"),
        failures=10,
        window_started_at=timezone.now(),
        locked_until=timezone.now() + timedelta(minutes=15),
    )
    run_action(client, LoginThrottle, "lift", throttle.pk)
    assert not LoginThrottle.objects.exists()


def revoke_a_key(client, alice, facility_a, facility_b) -> None:
    api_key, _ = api_key_create(name="ingest", scopes=["clips:ingest"], context=RequestContext.system("test"))
    run_action(client, ApiKey, "revoke", api_key.pk)
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None


def reviewer_action(name: str):
    def perform(client, alice, facility_a, facility_b) -> None:
        run_action(client, Reviewer, name, alice.reviewer.pk)

    return perform


def reinstate_a_suspended_reviewer(client, alice, facility_a, facility_b) -> None:
    run_action(client, Reviewer, "suspend", alice.reviewer.pk)
    run_action(client, Reviewer, "reinstate", alice.reviewer.pk)
    assert Reviewer.objects.get(pk=alice.reviewer.pk).status == "active"


def facility_action(name: str):
    def perform(client, alice, facility_a, facility_b) -> None:
        run_action(client, Facility, name, facility_a.pk)

    return perform


# Every operation the admin offers a superuser, how to perform it, and the events it must write.
OFFERED = {
    (Reviewer, "change"): (change_a_reviewer, {"reviewer.change", "vetting.record"}),
    (Reviewer, "action:suspend"): (reviewer_action("suspend"), {"reviewer.suspend"}),
    (Reviewer, "action:reinstate"): (reinstate_a_suspended_reviewer, {"reviewer.suspend", "reviewer.reinstate"}),
    (Reviewer, "action:offboard"): (reviewer_action("offboard"), {"reviewer.offboard"}),
    (Reviewer, "action:reenrol"): (reviewer_action("reenrol"), {"reviewer.reenrol", "invite.create"}),
    (Facility, "add"): (add_a_facility, {"facility.create"}),
    (Facility, "change"): (change_a_facility, {"facility.change"}),
    (Facility, "action:deactivate"): (facility_action("deactivate"), {"facility.deactivate"}),
    (Facility, "action:activate"): (facility_action("activate"), {"facility.activate"}),
    (LoginThrottle, "action:lift"): (lift_a_lockout, {"auth.lockout_lift"}),
    (ApiKey, "action:revoke"): (revoke_a_key, {"api_key.revoke"}),
}
REGISTERED = {
    Reviewer,
    EncryptedTOTPDevice,
    Invite,
    LoginThrottle,
    ApiKey,
    User,
    Group,
    Facility,
    AccessEvent,
    Checkpoint,
    Assignment,
    Transcript,
    # Read-only: keys go by re-enrolment, workstations by the commands.
    WebAuthnCredential,
    Workstation,
}


def offered_operations(user) -> set[tuple[type, str]]:
    """What the admin would let ``user`` do, read from each registered admin's own permissions."""
    request = RequestFactory().get("/admin/")
    request.user = user
    offered = set()
    for model, model_admin in django_admin.site._registry.items():
        instance = model()
        if model_admin.has_add_permission(request):
            offered.add((model, "add"))
        if model_admin.has_change_permission(request, instance):
            offered.add((model, "change"))
        if model_admin.has_delete_permission(request) or model_admin.has_delete_permission(request, instance):
            offered.add((model, "delete"))
        offered |= {(model, f"action:{name}") for name in model_admin.get_actions(request)}
    return offered


def test_the_walk_covers_every_registered_model():
    assert set(django_admin.site._registry) == REGISTERED


def test_the_admin_offers_a_superuser_exactly_the_operations_with_a_service(admin):
    assert offered_operations(admin.user) == set(OFFERED)


@pytest.mark.parametrize("operation", sorted(OFFERED, key=str), ids=lambda op: f"{op[0].__name__}-{op[1]}")
def test_each_offered_operation_writes_its_event(operation, admin_client, alice, facility_a, facility_b):
    perform, expected = OFFERED[operation]
    before = AccessEvent.objects.count()

    perform(admin_client, alice, facility_a, facility_b)

    written = set(AccessEvent.objects.filter(seq__gt=before).values_list("action", flat=True))
    assert expected <= written
    written_here = AccessEvent.objects.filter(seq__gt=before, action__in=expected)
    assert {event.actor_kind for event in written_here} == {"admin"}


@pytest.mark.parametrize("model", sorted(REGISTERED, key=str), ids=lambda model: model.__name__)
def test_what_is_not_offered_is_refused_through_the_pages_too(model, admin_client):
    if (model, "add") not in OFFERED:
        assert admin_client.get(url_of(model, "add/")).status_code == 403
    instance = model.objects.first()
    if instance is not None and (model, "delete") not in OFFERED:
        assert admin_client.post(url_of(model, f"{instance.pk}/delete/"), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=instance.pk).exists()


def test_no_admin_module_writes_an_event_itself():
    offenders = [
        str(path.relative_to(APPS))
        for path in sorted(APPS.rglob("admin.py"))
        if re.search(r"\bevent_record", path.read_text())
    ]
    assert offenders == []
