"""Every route, present and future, refuses a caller without a verified second factor.

The walk reads the project's URL resolver, so a route another area adds later is covered the
day it appears. Only the explicit allow-list may answer anything else.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from tests.personas import password_only

pytestmark = pytest.mark.django_db

# Route names that are open on purpose: health, the API description, signing in and enrolling,
# and leaving (logout must work for any session, verified or not).
ALLOWED = {
    "auth-logout",
    "logout",
    "healthz",
    "readyz",
    "api-schema",
    "api-docs",
    "login",
    "auth-login",
    "invite",
    "invite-accept",
    "invite-confirm",
    "invite-password-check",
    "auth-webauthn-options",
    "invite-key-options",
    "invite-key-register",
}
REFUSALS = {401, 403, 405}
SAMPLES = {"int": "1", "uuid": str(uuid.UUID(int=1)), "path": "x/y", "slug": "x", "str": "x"}
METHODS = ("get", "post", "put", "patch", "delete")


def _route_sample(route: str) -> str:
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), route)


def _regex_sample(regex: str) -> str:
    def group(match: re.Match) -> str:
        body = match.group(1)
        words = [w for w in body.split("|") if re.fullmatch(r"[\w-]+", w)]
        return words[0] if words else "1"

    text = re.sub(r"\(\?P<\w+>((?:[^()]|\([^()]*\))*)\)", group, regex)
    return text.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "").replace(".*", "x")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            piece = _route_sample(str(pattern._route))
        elif isinstance(pattern, RegexPattern):
            piece = _regex_sample(pattern._regex)
        else:  # a LocalePrefixPattern or similar: nothing to fill in
            piece = str(pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + piece)
        elif isinstance(entry, URLPattern):
            yield entry.name or "", "/" + prefix + piece


ROUTES = sorted(set(_walk(get_resolver().url_patterns)))


def test_the_walk_sees_the_routes_that_matter():
    names = {name for name, _ in ROUTES}
    assert {"auth-login", "auth-logout", "auth-reviewer", "auth-session", "invite-accept"} <= names
    assert any(path.startswith("/admin/") for _, path in ROUTES)
    assert len(ROUTES) > 20


def _refused(response) -> bool:
    if response.status_code in REFUSALS:
        return True
    location = response.get("Location", "")
    return response.status_code == 302 and (location.startswith(settings.LOGIN_URL) or "/login/" in location)


def _check(client, label: str) -> list[str]:
    failures = []
    for name, path in ROUTES:
        if name in ALLOWED or path.startswith(settings.STATIC_URL):
            continue
        for method in METHODS:
            response = getattr(client, method)(path)
            if not _refused(response):
                failures.append(f"{label} {method.upper()} {path} ({name}) -> {response.status_code}")
    return failures


def test_every_route_refuses_a_caller_without_a_session(client):
    assert _check(client, "anonymous") == []


def test_every_route_refuses_a_password_only_session(alice):
    assert _check(password_only(alice, address="127.0.0.1"), "password-only reviewer") == []
    assert _check(password_only(alice), "password-only reviewer at facility") == []


def test_every_route_refuses_a_password_only_admin(admin):
    assert _check(password_only(admin), "password-only admin") == []
