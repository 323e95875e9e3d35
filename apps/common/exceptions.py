"""Every API error leaves in one shape.

``{"error": {"code": "snake_case_code", "message": "human text"}}``, plus ``fields`` for
validation errors. The DRF exception handler built on these is ``apps.audit.exceptions``: it
also writes the ``denied`` event of an ``AccessDenied``.
"""

from __future__ import annotations

import logging
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from reviewsvc.errors import ServiceError

logger = logging.getLogger(__name__)

DRF_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.NotAuthenticated, "authentication_required"),
    (exceptions.AuthenticationFailed, "invalid_credentials"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "rate_limited"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.ParseError, "validation_error"),
    (exceptions.ValidationError, "validation_error"),
    (exceptions.NotAcceptable, "validation_error"),
]


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(error: ServiceError) -> Response:
    extra = {"fields": error.details} if error.details else {}
    response = Response(error_body(error.code, error.message, **extra), status=error.status)
    if error.code == "authentication_required":
        response["WWW-Authenticate"] = 'Api-Key realm="api"'
    return response


def as_service_error(exc: Exception) -> ServiceError | None:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, Http404):
        return ServiceError("not_found")
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is restarting or unreachable: nothing this request did has committed.
        logger.warning("database unavailable: %s", type(exc).__name__)
        return ServiceError("service_unavailable")
    if isinstance(exc, RequestDataTooBig):
        return ServiceError("payload_too_large")
    if isinstance(exc, DjangoPermissionDenied):
        return ServiceError("permission_denied")
    for drf_type, code in DRF_CODES:
        if isinstance(exc, drf_type):
            if code == "validation_error":
                detail = exc.detail if isinstance(exc, exceptions.APIException) else None
                fields = detail if isinstance(detail, dict) else {"non_field_errors": detail} if detail else {}
                return ServiceError(code, details=fields)
            return ServiceError(code)
    return None


def json_error_view(code: str):
    """Django-level handlers (404/500/400 outside DRF views) in the same shape."""

    def view(request, exception=None):
        error = ServiceError(code)
        return JsonResponse(error_body(error.code, error.message), status=error.status)

    return view


def server_error_view(request):
    """Django's 500 handler: a database that is down (e.g. while a middleware loads the session)
    is the contract's 503, not an internal error; nothing of the request committed."""
    exc = sys.exc_info()[1]
    code = "service_unavailable" if isinstance(exc, OperationalError | InterfaceError) else "internal_error"
    error = ServiceError(code)
    return JsonResponse(error_body(error.code, error.message), status=error.status)
