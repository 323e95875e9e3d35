"""The one error type of reviewsvc: a contract code, a human message and an HTTP status.

Services raise it; the API's exception handler renders it as
``{"error": {"code": ..., "message": ...}}``. The status of each code is fixed here so that a
code can never be sent with two different statuses.
"""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "validation_error": 400,
    "invalid_credentials": 401,
    "authentication_required": 401,
    "otp_required": 403,
    "scope_missing": 403,
    "permission_denied": 403,
    "outside_facility_network": 403,
    "workstation_not_enrolled": 403,
    "account_suspended": 403,
    "vetting_expired": 403,
    "facility_inactive": 403,
    "region_not_approved": 403,
    "subject_opted_out": 403,
    "lease_expired": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "invite_used": 410,
    "invite_expired": 410,
    "clip_gone": 410,
    "export_gone": 410,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "range_not_satisfiable": 416,
    "accidental_activation": 422,
    "too_many_attempts": 429,
    "rate_limited": 429,
    "internal_error": 500,
    "service_unavailable": 503,
}

DEFAULT_MESSAGES: dict[str, str] = {
    "validation_error": "The request is not valid.",
    "invalid_credentials": "Username, password or one-time code is wrong.",
    "authentication_required": "Authentication is required.",
    "otp_required": "A verified one-time code is required for this.",
    "scope_missing": "The API key lacks the scope this call needs.",
    "permission_denied": "You may not do this.",
    "outside_facility_network": "This request does not come from your facility's network.",
    "workstation_not_enrolled": "This device is not an enrolled workstation of your facility.",
    "account_suspended": "This account is not active.",
    "vetting_expired": "Your vetting has expired.",
    "facility_inactive": "Your facility is not active.",
    "region_not_approved": "Your facility is not approved for this clip's region.",
    "subject_opted_out": "The subject has opted out of human review.",
    "lease_expired": "The lease on this clip has ended.",
    "not_found": "Not found.",
    "method_not_allowed": "Method not allowed.",
    "conflict": "The request conflicts with the current state.",
    "invite_used": "This invite has already been used.",
    "invite_expired": "This invite has expired.",
    "clip_gone": "This clip is no longer available.",
    "export_gone": "This export is no longer available.",
    "payload_too_large": "The upload is too large.",
    "unsupported_media_type": "The upload is not a supported audio format.",
    "range_not_satisfiable": "The requested byte range lies outside the audio.",
    "accidental_activation": "Accidental activations are not reviewed by humans.",
    "too_many_attempts": "Too many failed attempts; try again later.",
    "rate_limited": "Too many requests; slow down.",
    "internal_error": "Something went wrong on our side.",
    "service_unavailable": "The service is not ready.",
}


class ServiceError(Exception):
    """A refusal with a contract code. ``status`` follows from the code."""

    def __init__(
        self, code: str, message: str | None = None, *, details: dict[str, Any] | None = None, status: int | None = None
    ) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        # A few codes have two statuses in the contract (subject_opted_out: 403 to a reviewer,
        # 409 to an ingest); the caller names the other one explicitly.
        self.status = status or STATUS_BY_CODE[code]
        self.details = details or {}
        super().__init__(f"{code}: {self.message}")


class AccessDenied(ServiceError):
    """A refusal of access that must leave a ``denied`` access event.

    ``audit`` carries the event's fields (action, clip, subject, facility, ...). The API's
    exception handler writes the event in its own transaction after the refused request's
    transaction has rolled back, so the refusal is recorded even though nothing else commits.
    """

    def __init__(self, code: str, message: str | None = None, *, audit: dict[str, Any] | None = None) -> None:
        super().__init__(code, message)
        self.audit = audit or {}
