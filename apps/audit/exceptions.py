"""The one DRF exception handler: every API error leaves in the contract's shape.

An ``AccessDenied`` also writes its ``denied`` access event here, in its own transaction: the
refused request's work has already rolled back by the time we get here.
"""

from __future__ import annotations

from rest_framework.response import Response

from apps.audit.services import event_record_denied
from apps.common.context import context_from_request
from apps.common.exceptions import as_service_error, error_response
from reviewsvc.errors import AccessDenied


def exception_handler(exc: Exception, context: dict) -> Response | None:
    error = as_service_error(exc)
    if error is None:
        return None  # a bug: Django's 500 handler answers and logs it
    if isinstance(error, AccessDenied) and error.audit:
        event_record_denied(context=context_from_request(context["request"]), reason=error.code, **error.audit)
    return error_response(error)
