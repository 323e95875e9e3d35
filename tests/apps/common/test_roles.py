"""One definition of the roles: the request context, the auditors' permission and the login answer agree."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from apps.accounts.selectors import user_role as selector_role
from apps.common.context import actor_of
from apps.common.roles import AUDITORS_GROUP, may_read_the_log, user_role

pytestmark = pytest.mark.django_db

# (is_superuser, is_staff, in auditors) -> role, may read the log
CASES = [
    ((True, True, True), "admin", True),
    ((True, True, False), "admin", True),
    ((False, True, True), "auditor", True),
    ((False, True, False), "admin", False),
    ((False, False, True), "reviewer", False),
    ((False, False, False), "reviewer", False),
]


def make_user(superuser: bool, staff: bool, auditors: bool) -> User:
    user = User.objects.create(username=f"u{superuser:d}{staff:d}{auditors:d}", is_superuser=superuser, is_staff=staff)
    if auditors:
        user.groups.add(Group.objects.get_or_create(name=AUDITORS_GROUP)[0])
    return user


@pytest.mark.parametrize(("flags", "role", "reads_the_log"), CASES, ids=[str(flags) for flags, _, _ in CASES])
def test_every_caller_gives_a_user_the_same_role(flags, role, reads_the_log):
    user = make_user(*flags)
    assert user_role(user) == role
    assert selector_role(user=user) == role
    assert actor_of(user, None)[0] == role
    assert may_read_the_log(user) is reads_the_log


def test_no_logged_in_user_is_called_plain_staff():
    assert {role for _, role, _ in CASES} == {"admin", "auditor", "reviewer"}
