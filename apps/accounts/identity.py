"""Who is asking: a session's user, the OTP device that verified it and the reviewer profile with
its facility, read in one query.

This is what ``django.contrib.auth``'s ``get_user`` and django-otp's ``OTPMiddleware`` do, with
their checks kept as they are: the session names an allowed backend; the backend would accept
the user (``ModelBackend.user_can_authenticate``: an inactive account is nobody); the session's
password hash matches (a changed password or ``SECRET_KEY`` ends it, the fallback keys cycle it);
the device belongs to this user and is confirmed, or the session's device mark is dropped. Only
the reads are joined: the device row carries its user, reviewer and facility
(``select_related``), so a verified request pays one query after its session instead of four.
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

from apps.accounts.models import Reviewer
from apps.accounts.selectors import PROFILE_CACHE_ATTR

# The user's reviewer profile and its facility come with the user row.
USER_RELATED = ("reviewer__facility",)


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
    device = _verified_device(session.get(DEVICE_ID_SESSION_KEY), user_id=user_id)
    if device is not None:
        user = device.user
    else:
        user = get_user_model()._default_manager.select_related(*USER_RELATED).filter(pk=user_id).first()
    if user is None or not load_backend(backend_path).user_can_authenticate(user):
        return None, None
    if not _session_hash_verified(session, user):
        return None, None
    return user, device


def _verified_device(persistent_id, *, user_id):
    """The confirmed device of ``user_id`` the session names, with the user and reviewer; or None."""
    if not isinstance(persistent_id, str):
        return None
    try:
        model_label, device_id = persistent_id.rsplit("/", 1)
        device_model = apps.get_model(model_label)
        device_pk = int(device_id)
    except (ValueError, LookupError):
        return None
    if not issubclass(device_model, Device):
        return None
    return (
        device_model.objects.select_related(*(f"user__{related}" for related in USER_RELATED))
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
