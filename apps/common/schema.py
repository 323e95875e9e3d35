"""The OpenAPI schema's conventions: component names, and every operation's error answers."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from reviewsvc.errors import STATUS_BY_CODE


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable snake_case code, e.g. `lease_expired`.")
    message = serializers.CharField(help_text="Human text; may change, do not parse it.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages, on `validation_error` only.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every refusal has this shape; the status follows from the code."""

    error = ErrorBodySerializer()


def _codes(status: int, *, skip: frozenset[str] = frozenset()) -> str:
    return ", ".join(
        f"`{code}`" for code, code_status in STATUS_BY_CODE.items() if code_status == status and code not in skip
    )


# A wrong login answers 401 ``invalid_credentials``; every other operation only the codes below.
_LOGIN_CODES = frozenset({"invalid_credentials"})


class AutoSchema(SpectacularAutoSchema):
    """Names nested serializers after their view (``ClipIngestApi.InputSerializer`` becomes the
    component ``ClipIngestApiInput`` instead of one ``Input`` shared by every view), and gives every
    operation the error answers it can give, in the one error shape."""

    def get_serializer_name(self, serializer, direction) -> str:
        return type(serializer).__qualname__.replace(".", "")

    def _error_statuses(self) -> dict[int, str]:
        open_to_all = any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        statuses: dict[int, str] = {}
        if self.method in ("POST", "PUT", "PATCH") or self.method == "GET" and not self._is_a_path_read():
            statuses[400] = "The request is not valid: " + _codes(400) + " (with `fields`)."
        if not open_to_all:
            statuses[401] = "Not signed in, or no valid API key: " + _codes(401, skip=_LOGIN_CODES) + "."
            statuses[403] = "Refused, and the refusal logged: one of " + _codes(403) + "."
        if "{" in self.path:
            statuses[404] = "No such object, or not yours: `not_found`."
        # What only some views can answer (a rate limit, a withdrawn clip) they name themselves.
        statuses.update(getattr(self.view, "schema_errors", {}))
        return statuses

    def _is_a_path_read(self) -> bool:
        # A read of one object takes no query parameters; a list or search does.
        return "{" in self.path

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status, description in self._error_statuses().items():
            responses.setdefault(
                str(status),
                self._get_response_for_code(OpenApiResponse(ErrorSerializer, description=description), str(status)),
            )
        return responses
