"""Server-side session limits and the staff network rule, applied before any view runs."""

from __future__ import annotations

import functools

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from apps.accounts.identity import identity_backends_check, session_identity
from apps.accounts.selectors import reviewer_profile
from apps.accounts.services import session_end_reason
from apps.audit.services import event_record, event_record_denied
from apps.common.context import context_from_request
from apps.common.exceptions import error_body
from apps.common.net import admin_networks, client_address
from reviewsvc.errors import ServiceError
from reviewsvc.net import address_in_networks

ADMIN_PREFIX = "/admin/"
# Paths only staff use: refused outside the admin networks even before anyone signs in.
STAFF_PREFIXES = (ADMIN_PREFIX, "/api/v1/audit/")
# The auditors' console pages refuse with a page of their own and an ``audit.console`` event,
# the admin networks included (apps.console.access); this rule leaves them to it.
CONSOLE_PREFIX = "/audit/"
# A page's own status polls carry this header: they must not count as the person being there,
# or a workbench left open would never reach the idle limit. Sending it can only shorten a
# session, never lengthen one.
BACKGROUND_HEADER = "X-Background-Poll"
ADMIN_LOGIN = "/admin/login/"


class IdentityMiddleware(AuthenticationMiddleware):
    """Django's ``AuthenticationMiddleware`` and django-otp's ``OTPMiddleware`` in one: a lazy
    ``request.user`` whose user, OTP device and reviewer profile come from one query
    (``apps.accounts.identity``). A subclass, so the admin's checks still find it."""

    def __init__(self, get_response) -> None:
        identity_backends_check()
        super().__init__(get_response)

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)  # refuses to run without the session middleware
        identity = functools.cache(lambda: session_identity(session=request.session))
        request.user = SimpleLazyObject(identity)
        request.auser = sync_to_async(identity)  # type: ignore[attr-defined]


class SessionPolicyMiddleware:
    """Ends sessions past the idle (15 min) or absolute (10 h) limit, or of a reviewer whose
    sessions were ended (suspension, offboarding, re-enrolment, facility deactivation).

    The cookie's own expiry is the browser's business; this is the server's, so a stolen cookie
    dies on time too. Runs after django-otp's middleware.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            reason = session_end_reason(
                session=request.session,
                reviewer=reviewer_profile(user=user),
                now=timezone.now(),
                touch=request.headers.get(BACKGROUND_HEADER) != "1",
            )
            if reason is not None:
                self._end(request, reason)
        return self.get_response(request)

    @staticmethod
    def _end(request: HttpRequest, reason: str) -> None:
        context = context_from_request(request)
        logout(request)  # flushes the session: the old cookie is dead
        request.user.otp_device = None  # type: ignore[union-attr]
        request.user.is_verified = lambda: False  # type: ignore[union-attr]
        if reason in {"idle", "absolute", "unmarked"}:
            with transaction.atomic():
                event_record(action="auth.session_timeout", context=context, reason=reason)


def staff_network_refusal(request: HttpRequest) -> HttpResponse | None:
    """The staff network rule, for every request: the one place it is decided.

    Staff (admins, auditors, any ``is_staff`` or superuser account) work only from
    REVIEWSVC_ADMIN_NETWORKS. A request is refused, with a denied event, when it comes from
    outside those networks and either carries a staff session (whatever path it asks for, so a
    stolen staff cookie is worthless elsewhere) or asks for a staff path (``STAFF_PREFIXES``:
    the admin and the auditors' API), signed in or not. Returns the refusal, or None to go on.
    """
    path = request.path_info
    if path.startswith(CONSOLE_PREFIX):
        return None
    on_staff_path = path.startswith(STAFF_PREFIXES)
    user = getattr(request, "user", None)
    staff_session = bool(user is not None and user.is_authenticated and (user.is_staff or user.is_superuser))
    if not (on_staff_path or staff_session):
        return None
    if address_in_networks(client_address(request), admin_networks()):
        return None
    event_record_denied(
        action="admin.denied" if path.startswith(ADMIN_PREFIX) else "staff.denied",
        context=context_from_request(request),
        reason="outside_facility_network",
        extra={"path": path[:200]},
    )
    error = ServiceError("outside_facility_network")
    return JsonResponse(error_body(error.code, error.message), status=error.status)


class StaffNetworkMiddleware:
    """Applies ``staff_network_refusal`` before any view runs; runs after authentication.

    The admin's own login form is replaced by ``/login/``: one login path, so the per-username
    lockout and the one-step password + OTP check hold for staff too.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = staff_network_refusal(request)
        if refusal is not None:
            return refusal
        if request.path_info == ADMIN_LOGIN:
            return HttpResponseRedirect(settings.LOGIN_URL)
        return self.get_response(request)
