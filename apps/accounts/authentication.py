from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_authenticate, api_key_refused
from apps.common.context import context_from_request
from reviewsvc.errors import ServiceError

KEYWORD = "Api-Key"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``: the service client, with no user behind it."""

    def authenticate(self, request) -> tuple[AnonymousUser, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, secret = header.partition(" ")
        if keyword != KEYWORD:
            return None
        api_key = api_key_authenticate(secret=secret.strip())
        if api_key is None:
            # The Django request: the DRF one would authenticate again to name its actor.
            api_key_refused(context=context_from_request(request._request), path=request.path)
            raise ServiceError("invalid_credentials", "The API key is not valid.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes ``Api-Key`` in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Api-Key <key>`"}
