"""Staff sessions are bound to the admin networks on every request, not only at login."""

from __future__ import annotations

import pytest

from tests.apps.accounts.support import SESSION_ME
from tests.personas import ADDRESS_ADMIN, ADDRESS_OUTSIDE, verified_client
from tests.support import events

pytestmark = pytest.mark.django_db

AUDITOR_API = ["/api/v1/audit/events", "/api/v1/audit/events.csv", "/api/v1/audit/events.jsonl", "/api/v1/audit/verify"]
STAFF_PATHS = [*AUDITOR_API, "/admin/", "/admin/accounts/reviewer/", SESSION_ME]


@pytest.mark.parametrize("path", STAFF_PATHS)
@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_a_staff_session_replayed_from_outside_the_admin_networks_is_refused_and_logged(request, who, path):
    persona = request.getfixturevalue(who)
    client = verified_client(persona, address=ADDRESS_OUTSIDE)

    response = client.get(path)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "outside_facility_network"
    [event] = [e for e in events(outcome="denied") if e.reason == "outside_facility_network"]
    assert event.action == ("admin.denied" if path.startswith("/admin/") else "staff.denied")
    assert (event.actor_label, event.client_address, event.extra["path"]) == (persona.username, ADDRESS_OUTSIDE, path)
    assert not events("audit.export")


@pytest.mark.parametrize("path", AUDITOR_API)
def test_the_auditors_api_answers_an_auditor_inside_the_admin_networks(auditor, path):
    response = verified_client(auditor, address=ADDRESS_ADMIN).get(path)
    assert response.status_code == 200


def test_the_auditors_api_refuses_anyone_from_outside_before_authentication(client):
    response = client.get("/api/v1/audit/events", REMOTE_ADDR=ADDRESS_OUTSIDE)
    assert response.status_code == 403
    assert events("staff.denied")[-1].actor_kind == "anonymous"


def test_a_reviewer_session_inside_its_facility_is_not_held_to_the_admin_networks(alice_client):
    assert alice_client.get(SESSION_ME).status_code == 200
    assert not events("staff.denied")
