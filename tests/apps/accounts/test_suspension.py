"""A suspension holds until it is lifted on purpose: re-enrolment never lifts it."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Reviewer
from apps.accounts.services import reviewer_offboard, reviewer_reenrol, reviewer_reinstate, reviewer_suspend
from apps.common.context import RequestContext
from tests.apps.accounts.test_login import login
from tests.personas import ADDRESS_A, Persona, enrol
from tests.support import error_code, last_event

pytestmark = pytest.mark.django_db
CONTEXT = RequestContext.system("tests")


def reenrolled(persona: Persona) -> Persona:
    url = reenrol(persona)
    device = enrol(url, persona.password, ADDRESS_A)
    return Persona(
        user=persona.user, password=persona.password, device=device, reviewer=persona.reviewer, address=ADDRESS_A
    )


def reenrol(persona: Persona) -> str:
    return reviewer_reenrol(email=persona.username, context=CONTEXT)


def status_of(persona: Persona) -> str:
    return Reviewer.objects.get(pk=persona.reviewer.pk).status


def test_a_suspended_reviewer_reenrolled_stays_suspended_after_confirming(dave):
    again = reenrolled(dave)

    assert status_of(dave) == "suspended"
    _, response = login(again)
    assert (response.status_code, error_code(response)) == (403, "account_suspended")
    assert last_event("auth.login").reason == "account_suspended"


def test_reinstating_lifts_the_suspension_with_its_own_event(dave):
    reviewer_reinstate(email=dave.username, context=CONTEXT)

    assert status_of(dave) == "active"
    _, response = login(dave)
    assert response.status_code == 200
    event = last_event("reviewer.reinstate")
    assert (event.extra["username"], event.extra["status"]) == (dave.username, "active")


def test_a_suspended_reviewer_reenrolled_and_reinstated_before_confirming_must_still_enrol(dave):
    url = reenrol(dave)
    reviewer_reinstate(email=dave.username, context=CONTEXT)

    assert status_of(dave) == "invited"
    _, response = login(dave)
    assert response.status_code == 401
    again = enrol(url, dave.password, ADDRESS_A)
    assert status_of(dave) == "active"
    _, response = login(Persona(dave.user, dave.password, again, dave.reviewer, ADDRESS_A))
    assert response.status_code == 200


def test_an_offboarded_reviewer_is_never_reinstated(alice):
    reviewer_offboard(email=alice.username, context=CONTEXT)
    with pytest.raises(Exception, match="offboarded"):
        reviewer_reinstate(email=alice.username, context=CONTEXT)
    assert status_of(alice) == "suspended"


def test_reinstating_an_active_reviewer_is_refused(alice):
    with pytest.raises(Exception, match="not suspended"):
        reviewer_reinstate(email=alice.username, context=CONTEXT)


def test_reinstate_reviewer_command_lifts_a_suspension(alice):
    reviewer_suspend(email=alice.username, context=CONTEXT)
    out = io.StringIO()
    call_command("reinstate_reviewer", alice.username, stdout=out)
    assert "reinstated" in out.getvalue()
    assert status_of(alice) == "active"
    with pytest.raises(CommandError):
        call_command("reinstate_reviewer", alice.username, stdout=out)


def test_the_admin_reinstate_action_goes_through_the_service(dave, admin_client):
    response = admin_client.post(
        "/admin/accounts/reviewer/",
        {"action": "reinstate", "_selected_action": [dave.reviewer.pk]},
    )
    assert response.status_code == 302
    assert status_of(dave) == "active"
    assert last_event("reviewer.reinstate").actor_kind == "admin"
