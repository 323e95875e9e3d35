"""Who is asking, read with the session in one query: the checks of Django's get_user and
django-otp's middleware kept, and the session row's own columns trusted for nothing."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.identity import session_identity
from apps.accounts.middleware import IdentityMiddleware
from apps.accounts.models import AccountSession, EncryptedTOTPDevice
from apps.accounts.selectors import reviewer_profile
from apps.accounts.session_store import SessionStore

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


def session_of(persona, *, device_id: object = None) -> SessionStore:
    """A saved session of ``persona``, opened again by its key as a request's would be."""
    session = SessionStore()
    session[SESSION_KEY] = str(persona.user.pk)
    session[BACKEND_SESSION_KEY] = BACKEND
    session[HASH_SESSION_KEY] = persona.user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = persona.device.persistent_id if device_id is None else device_id
    session.save()
    return SessionStore(session.session_key)


def test_a_verified_reviewer_is_read_with_session_device_reviewer_and_facility_in_one_query(
    alice, django_assert_num_queries
):
    session = session_of(alice)
    with django_assert_num_queries(1):
        user = session_identity(session=session)
        assert user.is_verified()
        assert user.otp_device == alice.device
        assert user.otp_device.user is user
        assert reviewer_profile(user=user).facility.name == "Facility A"


def test_staff_have_no_reviewer_profile_and_it_costs_no_query(admin, django_assert_num_queries):
    session = session_of(admin)
    with django_assert_num_queries(1):
        user = session_identity(session=session)
        assert reviewer_profile(user=user) is None
    assert user.is_verified()


def test_a_device_of_a_kind_the_session_row_does_not_join_is_read_apart(alice, django_assert_num_queries):
    device = TOTPDevice.objects.create(user=alice.user, name="plain", confirmed=True)
    session = session_of(alice, device_id=device.persistent_id)
    with django_assert_num_queries(2):
        user = session_identity(session=session)
        assert user.otp_device == device
        assert reviewer_profile(user=user).facility.name == "Facility A"
    assert user.is_verified()


def test_the_session_rows_device_column_alone_verifies_nothing(alice):
    # Written straight into the row (as a database writer could): the data names no device.
    session = session_of(alice, device_id="")
    AccountSession.objects.filter(session_key=session.session_key).update(totp_device_id=alice.device.pk)
    user = session_identity(session=session)
    assert user.is_authenticated
    assert not user.is_verified()


def test_the_session_rows_user_column_does_not_change_who_is_asking(alice, bob):
    session = session_of(alice)
    AccountSession.objects.filter(session_key=session.session_key).update(user_id=bob.user.pk)
    user = session_identity(session=session)
    assert user.pk == alice.user.pk
    assert user.is_verified()
    assert user.otp_device == alice.device


def test_a_device_deleted_after_sign_in_leaves_the_session_unverified(alice):
    session = session_of(alice)
    EncryptedTOTPDevice.objects.filter(pk=alice.device.pk).delete()
    user = session_identity(session=session)
    assert user.is_authenticated
    assert not user.is_verified()
    assert DEVICE_ID_SESSION_KEY not in session


def test_a_session_without_a_user_is_nobody():
    user = session_identity(session=SessionStore())
    assert not user.is_authenticated
    assert not user.is_verified()


def test_a_session_made_by_a_backend_no_longer_allowed_is_nobody(alice):
    session = session_of(alice)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.RemoteUserBackend"
    assert not session_identity(session=session).is_authenticated


def test_a_suspended_account_is_nobody(alice):
    alice.user.is_active = False
    alice.user.save(update_fields=["is_active"])
    assert not session_identity(session=session_of(alice)).is_authenticated


def test_a_deleted_user_is_nobody(alice):
    session = session_of(alice)
    alice.user.delete()
    assert not session_identity(session=session).is_authenticated


def test_a_changed_password_ends_the_session(alice):
    session = session_of(alice)
    key = session.session_key
    # A password changed elsewhere (the services are the only writers; the row is what counts here).
    User.objects.filter(pk=alice.user.pk).update(password=make_password("Another-Staple-Horse-42"))
    assert not session_identity(session=session).is_authenticated
    assert session.session_key != key
    assert SESSION_KEY not in session


def test_a_session_signed_with_a_retired_secret_is_moved_onto_the_current_one(alice, settings):
    session = session_of(alice)
    old_hash = session[HASH_SESSION_KEY]
    key = session.session_key
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-this-test-only-" + "x" * 30
    user = session_identity(session=session)
    assert user.is_authenticated
    assert user.is_verified()
    assert session[HASH_SESSION_KEY] != old_hash
    assert session.session_key != key  # cycled


@pytest.mark.parametrize(
    "device_id",
    [
        12,  # not a persistent id at all
        "no-slash",
        "accounts.encryptedtotpdevice/not-a-number",
        "nosuchapp.device/1",
        "accounts.reviewer/1",  # a model, but no OTP device
    ],
)
def test_a_device_mark_that_names_no_device_leaves_the_session_unverified(alice, device_id):
    session = session_of(alice, device_id=device_id)
    user = session_identity(session=session)
    assert user.is_authenticated
    assert not user.is_verified()
    assert DEVICE_ID_SESSION_KEY not in session


def test_another_users_device_does_not_verify_the_session(alice, bob):
    session = session_of(alice, device_id=bob.device.persistent_id)
    user = session_identity(session=session)
    assert user.is_authenticated
    assert not user.is_verified()
    assert DEVICE_ID_SESSION_KEY not in session


def test_an_unconfirmed_device_does_not_verify_the_session(alice):
    EncryptedTOTPDevice.objects.filter(pk=alice.device.pk).update(confirmed=False)
    user = session_identity(session=session_of(alice))
    assert user.is_authenticated
    assert not user.is_verified()


def test_the_asynchronous_accessor_gives_the_same_verified_user(alice):
    seen = {}

    def view(request):
        seen["user"] = async_to_sync(request.auser)()
        return HttpResponse()

    request = RequestFactory().get("/")
    request.COOKIES[django_settings.SESSION_COOKIE_NAME] = session_of(alice).session_key
    SessionMiddleware(IdentityMiddleware(view))(request)
    assert seen["user"].is_verified()
    assert seen["user"].pk == alice.user.pk


def test_it_refuses_to_start_with_a_backend_it_would_not_load_users_for(settings):
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.BaseBackend"]
    with pytest.raises(ImproperlyConfigured):
        IdentityMiddleware(lambda request: None)
