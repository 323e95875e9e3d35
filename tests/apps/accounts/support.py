"""URLs of the accounts tests; the shared helpers are in tests/support.py."""

from __future__ import annotations

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
REVIEWER_ME = "/api/v1/auth/reviewer"
SESSION_ME = "/api/v1/auth/session"
