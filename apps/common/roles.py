"""Who a user is to the service: the one definition of the roles, used by the request context
(who acted), the auditors' permission and the login answer.

- ``admin``: a superuser, or staff outside the ``auditors`` group;
- ``auditor``: staff in the ``auditors`` group (read-only by their permissions);
- ``reviewer``: anyone else logged in; login admits no one else who is not a reviewer.

Superusers may read the access log too; plain staff may not.
"""

from __future__ import annotations

AUDITORS_GROUP = "auditors"


def _in_auditors(user) -> bool:
    return user.groups.filter(name=AUDITORS_GROUP).exists()


def user_role(user) -> str:
    """``admin`` | ``auditor`` | ``reviewer`` for a logged-in user."""
    if user.is_superuser:
        return "admin"
    if user.is_staff:
        return "auditor" if _in_auditors(user) else "admin"
    return "reviewer"


def may_read_the_log(user) -> bool:
    return bool(user.is_superuser or (user.is_staff and _in_auditors(user)))
