"""The admin shows the log but nobody — superusers included — can add, change or delete an event."""

from __future__ import annotations

import uuid

import pytest
from django.contrib import admin as django_admin
from django.db import transaction
from django.test import RequestFactory

from apps.audit.models import AccessEvent, Checkpoint
from apps.audit.services import checkpoint_create, event_record
from tests.apps.audit.factories import REVIEWER, record_events

pytestmark = pytest.mark.django_db


def test_a_superuser_may_read_the_events(admin_client):
    record_events(2)
    assert admin_client.get("/admin/audit/accessevent/").status_code == 200
    assert admin_client.get("/admin/audit/accessevent/1/change/").status_code == 200


def test_no_one_may_add_change_or_delete_an_event_or_checkpoint(admin):
    request = RequestFactory().get("/admin/")
    request.user = admin.user
    for model in (AccessEvent, Checkpoint):
        model_admin = django_admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert model_admin.get_actions(request) == {}


def test_the_admin_refuses_to_edit_or_delete_an_event_through_its_pages(admin_client):
    (event,) = record_events(1)
    checkpoint_create()
    refused = [
        admin_client.get("/admin/audit/accessevent/add/"),
        admin_client.post("/admin/audit/accessevent/1/change/", {"action": "nothing", "outcome": "granted"}),
        admin_client.get("/admin/audit/accessevent/1/delete/"),
        admin_client.post("/admin/audit/accessevent/1/delete/", {"post": "yes"}),
        admin_client.post("/admin/audit/checkpoint/1/delete/", {"post": "yes"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    bulk = admin_client.post(
        "/admin/audit/accessevent/", {"action": "delete_selected", "_selected_action": [event.seq], "post": "yes"}
    )
    assert bulk.status_code == 200  # the change list again: the log offers no delete action
    stored = AccessEvent.objects.get(seq=event.seq)
    assert (stored.action, stored.hash) == (event.action, event.hash)
    assert Checkpoint.objects.count() == 1


def test_the_event_list_finds_an_event_by_clip_id_and_shows_facility_address_and_utc_seconds(admin_client):
    clip = uuid.uuid4()
    with transaction.atomic():
        event_record(action="clip.audio", context=REVIEWER, clip_id=clip)
    record_events(2)
    page = admin_client.get("/admin/audit/accessevent/", {"q": str(clip)}).content.decode()
    assert page.count('class="field-seq"') == 1
    assert str(clip) in page
    assert '<td class="field-client_address">10.1.2.3</td>' in page
    assert " UTC</td>" in page
    other = admin_client.get("/admin/audit/accessevent/", {"q": str(uuid.uuid4())}).content.decode()
    assert other.count('class="field-seq"') == 0
