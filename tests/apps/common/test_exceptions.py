"""The one exception handler: Django's and DRF's refusals leave in the error shape with one code each."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions

from apps.audit.exceptions import exception_handler
from apps.common.exceptions import as_service_error


@pytest.mark.parametrize(
    ("raised", "code", "status"),
    [
        (Http404("no such row"), "not_found", 404),
        (RequestDataTooBig("too big"), "payload_too_large", 413),
        (PermissionDenied(), "permission_denied", 403),
        (exceptions.NotAcceptable(), "validation_error", 400),
        (exceptions.Throttled(), "rate_limited", 429),
    ],
    ids=["http404", "data-too-big", "django-permission-denied", "not-acceptable", "throttled"],
)
def test_a_framework_refusal_becomes_exactly_one_service_error(raised, code, status):
    error = as_service_error(raised)
    assert (error.code, error.status) == (code, status)
    response = exception_handler(raised, {})
    assert response.status_code == status
    assert response.data["error"]["code"] == code


def test_a_validation_error_keeps_its_fields_and_a_bare_one_names_none():
    assert as_service_error(exceptions.ValidationError({"text": ["too long"]})).details == {"text": ["too long"]}
    assert as_service_error(exceptions.ValidationError(["not an object"])).details == {
        "non_field_errors": ["not an object"]
    }


def test_anything_else_is_left_to_djangos_500_handler():
    assert as_service_error(KeyError("a bug")) is None
    assert exception_handler(KeyError("a bug"), {}) is None
