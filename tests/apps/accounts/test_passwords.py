"""Only the reviewer sets their password; staff passwords change through one validated, logged path."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.urls import NoReverseMatch, reverse

from apps.accounts.services import staff_password_set
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError
from tests.support import events, last_event

pytestmark = pytest.mark.django_db
NEW = "Quiet-harbour-lantern-93"


def still_has_own_password(persona) -> bool:
    return User.objects.get(pk=persona.user.pk).check_password(persona.password)


def typed(*answers: str):
    return mock.patch("getpass.getpass", side_effect=list(answers))


def test_the_admin_offers_no_password_form_for_anyone(admin_client, alice, auditor):
    with pytest.raises(NoReverseMatch):
        reverse("admin:auth_user_password_change", args=(alice.user.pk,))
    for user in (alice.user, auditor.user):
        admin_client.post(
            f"/admin/auth/user/{user.pk}/password/",
            {"password1": NEW, "password2": NEW, "usable_password": "true"},
            follow=True,
        )
    assert admin_client.get("/admin/auth/user/add/").status_code == 403
    assert still_has_own_password(alice)
    assert still_has_own_password(auditor)


@pytest.mark.parametrize("who", ["alice", "auditor"])
def test_a_password_set_and_saved_anywhere_else_is_refused(request, who):
    persona = request.getfixturevalue(who)
    user = User.objects.get(pk=persona.user.pk)
    user.set_password(NEW)
    with pytest.raises(PermissionDenied):
        user.save()
    assert still_has_own_password(persona)


def test_manage_py_changepassword_cannot_set_a_reviewers_password(alice):
    with mock.patch("getpass.getpass", return_value=NEW), pytest.raises(PermissionDenied):
        call_command("changepassword", alice.username)
    assert still_has_own_password(alice)


def test_staff_password_set_refuses_a_reviewer(alice):
    with pytest.raises(ServiceError) as refused:
        staff_password_set(user=alice.user, password=NEW, context=RequestContext.system("tests"))
    assert refused.value.code == "permission_denied"
    assert still_has_own_password(alice)


def test_change_staff_password_sets_a_staff_password_through_the_validators_and_an_event(auditor):
    out = io.StringIO()
    with typed(NEW, NEW):
        call_command("change_staff_password", auditor.username, stdout=out)
    assert User.objects.get(pk=auditor.user.pk).check_password(NEW)
    event = last_event("password.change")
    assert (event.actor_label, event.extra) == (
        "manage.py change_staff_password",
        {"username": auditor.username, "change": "set by an admin"},
    )


@pytest.mark.parametrize(
    ("who", "answers", "message"),
    [
        ("auditor", ("short", "short"), "too short"),
        ("auditor", (NEW, NEW + "x"), "differ"),
        ("alice", (NEW, NEW), "through an invite"),
    ],
    ids=["weak", "mismatch", "reviewer"],
)
def test_change_staff_password_refuses_weak_mismatched_and_reviewer_passwords(request, who, answers, message):
    persona = request.getfixturevalue(who)
    before = len(events("password.change"))
    with typed(*answers), pytest.raises(CommandError, match=message):
        call_command("change_staff_password", persona.username, stdout=io.StringIO())
    assert still_has_own_password(persona)
    assert len(events("password.change")) == before


def test_change_staff_password_names_an_unknown_account():
    with pytest.raises(CommandError, match="No account"):
        call_command("change_staff_password", "nobody@example.org")


def test_a_staff_member_changing_their_own_password_is_logged_as_their_own(admin):
    context = RequestContext(
        actor_kind="admin", actor_id=str(admin.user.pk), actor_label=admin.username, client_address=None, request_id=""
    )
    staff_password_set(user=admin.user, password=NEW, context=context)
    assert last_event("password.change").extra == {"username": admin.username, "change": "own"}
