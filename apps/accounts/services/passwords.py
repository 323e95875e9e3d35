"""Who may set a password: its owner, through an invite (reviewers and staff alike), or an admin
setting a staff account's password through ``staff_password_set``. Nothing else.

``password_set_guard`` (a ``pre_save`` receiver on ``User``) refuses every other save of a newly
set password — the stock admin form, ``manage.py changepassword``/``createsuperuser``, a shell —
so a reviewer's password is only ever one the reviewer chose. Making a password unusable
(re-enrolment, offboarding) stays open: it takes a credential away, it never hands one out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from apps.accounts.models import Reviewer
from apps.audit.services import event_record
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError

_PASSWORD_SET_ALLOWED: ContextVar[bool] = ContextVar("reviewsvc_password_set_allowed", default=False)


@contextmanager
def password_set_allowed() -> Iterator[None]:
    """The one scope in which a ``set_password`` may be saved: the services of this module's
    docstring, each of which validates the password and writes its event."""
    token = _PASSWORD_SET_ALLOWED.set(True)
    try:
        yield
    finally:
        _PASSWORD_SET_ALLOWED.reset(token)


def password_set_guard(sender, instance: User, **kwargs) -> None:
    # ``set_password`` leaves the raw password in ``_password`` until the save; an unusable
    # password and a hasher upgrade at login (which clears it first) pass.
    if getattr(instance, "_password", None) is not None and not _PASSWORD_SET_ALLOWED.get():
        raise PermissionDenied("Passwords are set by their owner through an invite, or by staff_password_set.")


def staff_password_set(*, user: User, password: str, context: RequestContext) -> None:
    """An admin sets a staff account's password: the validators an invite applies, then an event.

    A reviewer's password is refused outright: only the reviewer sets it, through an invite (a
    forgotten one is ``reviewer_reenrol``).
    """
    if not user.is_staff or Reviewer.objects.filter(user=user).exists():
        raise ServiceError("permission_denied", "Only reviewers set their own password, through an invite.")
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ServiceError("validation_error", details={"password": list(exc.messages)}) from None
    with transaction.atomic(), password_set_allowed():
        user.set_password(password)
        user.save(update_fields=["password"])
        event_record(
            action="password.change",
            context=context,
            extra={
                "username": user.get_username(),
                "change": "own" if context.actor_id == str(user.pk) else "set by an admin",
            },
        )
