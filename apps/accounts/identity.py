"""Who is asking: a session's user, the OTP device that verified it and the reviewer profile with
its facility, read with the session itself in one query.

This is what ``django.contrib.auth``'s ``get_user`` and django-otp's ``OTPMiddleware`` do, with
their checks kept as they are: the session names an allowed backend; the backend would accept
the user (``ModelBackend.user_can_authenticate``: an inactive account is nobody); the session's
password hash matches (a changed password or ``SECRET_KEY`` ends it, the fallback keys cycle it);
the device belongs to this user and is confirmed, or the session's device mark is dropped. Only
the reads are joined: the session row carries the user with their reviewer profile and facility
and the verifying device (``apps.accounts.session_store``), so a verified request pays the
session read and nothing more, where Django's middleware pays four queries. A session whose row
does not name what its data names (a device of another kind, a row read some other way) costs
one query more: the device with its user, reviewer and facility.
The session epoch check then reads the reviewer loaded here (``SessionPolicyMiddleware``), so a
suspension, offboarding or facility deactivation still ends the session on its next request.
"""

from __future__ import annotations

import functools

from django.apps import apps
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import is_verified
from django_otp.models import Device

from apps.accounts.models import USER_JOINS, Reviewer, device_mark_parts
from apps.accounts.selectors import PROFILE_CACHE_ATTR


def identity_backends_check() -> None:
    """Refuse to start with a backend whose users this module would not load as it does."""
    for path in settings.AUTHENTICATION_BACKENDS:
        if not issubclass(import_string(path), ModelBackend):
            raise ImproperlyConfigured(f"{path} is no ModelBackend: apps.accounts.identity loads users as one does.")


def session_identity(*, session):
    """The user of ``session`` (or ``AnonymousUser``) with ``otp_device`` and ``is_verified()``
    set as django-otp sets them, and the reviewer profile cached for ``reviewer_profile``."""
    user, device = _session_user_and_device(session)
    if user is None:
        user = AnonymousUser()
    else:
        try:
            reviewer = user.reviewer
        except Reviewer.DoesNotExist:
            reviewer = None  # select_related cached the absence: no query
        setattr(user, PROFILE_CACHE_ATTR, reviewer)
    if device is None and DEVICE_ID_SESSION_KEY in session:
        del session[DEVICE_ID_SESSION_KEY]
    user.otp_device = device
    user.is_verified = functools.partial(is_verified, user)
    return user


def _session_user_and_device(session):
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None, None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None, None
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    row = getattr(session, "row", None)
    if row is not None and row.session_key == session.session_key and row.user_id == user_id:
        # The session read joined the user and device (apps.accounts.session_store).
        user = row.user
        device = _joined_device(row, persistent_id, user_id=user_id)
        if device is _NOT_JOINED:
            device = _verified_device(persistent_id, user_id=user_id)
    else:
        device = _verified_device(persistent_id, user_id=user_id)
        if device is not None:
            user = device.user
        else:
            user = get_user_model()._default_manager.select_related(*USER_JOINS).filter(pk=user_id).first()
    if user is None or not load_backend(backend_path).user_can_authenticate(user):
        return None, None
    if not _session_hash_verified(session, user):
        return None, None
    return user, device


# A device mark the session row's joins do not cover (another device kind): read it apart.
_NOT_JOINED = object()


def _joined_device(row, persistent_id, *, user_id):
    """The confirmed device of ``user_id`` the session names, from the session row's joins;
    ``_NOT_JOINED`` when the row's device columns do not name that device."""
    mark = device_mark_parts(persistent_id)
    if mark is None:
        return None
    field = row.device_field(mark[0])
    if field is None or getattr(row, f"{field}_id") != mark[1]:
        return _NOT_JOINED
    device = getattr(row, field)  # joined: None when the device is gone
    if device is None or device.user_id != user_id or not device.confirmed:
        return None
    device.user = row.user
    return device


def _verified_device(persistent_id, *, user_id):
    """The confirmed device of ``user_id`` the session names, with the user and reviewer; or None."""
    mark = device_mark_parts(persistent_id)
    if mark is None:
        return None
    model_label, device_pk = mark
    try:
        device_model = apps.get_model(model_label)
    except (ValueError, LookupError):
        return None
    if not issubclass(device_model, Device):
        return None
    return (
        device_model.objects.select_related(*(f"user__{related}" for related in USER_JOINS))
        .filter(pk=device_pk, user_id=user_id, confirmed=True)
        .first()
    )


def _session_hash_verified(session, user) -> bool:
    """Django's own check: the current key's hash, else a fallback key's (then the session is
    cycled onto the current one), else the session is flushed."""
    session_hash = session.get(HASH_SESSION_KEY)
    current = user.get_session_auth_hash()
    if session_hash and constant_time_compare(session_hash, current):
        return True
    if session_hash and any(
        constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()
    ):
        session.cycle_key()
        session[HASH_SESSION_KEY] = current
        return True
    session.flush()
    return False
