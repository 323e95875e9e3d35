"""Small helpers shared by the accounts tests."""

from __future__ import annotations

from apps.audit.models import AccessEvent

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
REVIEWER_ME = "/api/v1/auth/reviewer"
SESSION_ME = "/api/v1/auth/session"


def events(action: str | None = None, **filters) -> list[AccessEvent]:
    queryset = AccessEvent.objects.order_by("seq")
    if action:
        queryset = queryset.filter(action=action)
    return list(queryset.filter(**filters))


def last_event(action: str) -> AccessEvent:
    found = events(action)
    assert found, f"no {action} event"
    return found[-1]


def error_code(response) -> str:
    return response.json()["error"]["code"]
