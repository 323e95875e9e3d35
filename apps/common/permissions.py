"""Who may call a view. The default is nobody; each view names its permission."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from apps.common.clients import ApiClient
from apps.common.roles import AUDITORS_GROUP as AUDITORS_GROUP  # re-exported: its old home
from apps.common.roles import may_read_the_log
from reviewsvc.errors import ServiceError


class DenyAll(BasePermission):
    def has_permission(self, request, view) -> bool:
        return False


def _require_verified_user(request) -> None:
    user = request.user
    if not user or not user.is_authenticated:
        raise ServiceError("authentication_required")
    # A password-only session holds no OTP verification and reaches no data.
    if not user.is_verified():
        raise ServiceError("otp_required")


class IsVerifiedUser(BasePermission):
    """A logged-in user whose session passed the OTP step."""

    def has_permission(self, request, view) -> bool:
        _require_verified_user(request)
        return True


class IsVerifiedAuditor(BasePermission):
    """OTP-verified staff in the ``auditors`` group, or a superuser. Read-only by design of the views."""

    def has_permission(self, request, view) -> bool:
        _require_verified_user(request)
        if may_read_the_log(request.user):
            return True
        raise ServiceError("permission_denied")


def scope_required(scope: str) -> type[BasePermission]:
    """An API-key client holding ``scope``. Sessions never pass: service calls are for keys only."""

    class HasScope(BasePermission):
        def has_permission(self, request, view) -> bool:
            if not isinstance(request.auth, ApiClient):
                raise ServiceError("authentication_required")
            if scope not in request.auth.scopes:
                raise ServiceError("scope_missing", f"This call needs the {scope!r} scope.")
            return True

    HasScope.__name__ = f"HasScope_{scope.replace(':', '_')}"
    return HasScope
