"""Real headless Chromium against a live server on 127.0.0.1.

Debian's chromium at /usr/bin/chromium (``.ci/run`` installs it); no browser is downloaded. When
it is missing every browser test skips and says why. Screenshots go to ``test-artifacts/browser``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django_otp.oath import totp
from pytest_django import live_server_helper

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
DEMO_AUDIO = Path(__file__).resolve().parents[2] / "apps" / "clips" / "demo_audio"
PASSWORD = "correct horse battery staple 42"
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture(scope="session")
def live_server():
    """The live server on 127.0.0.1 (not ``localhost``, which may be ::1): the facility's network."""
    server = live_server_helper.LiveServer("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the 'playwright' Python package")
    # Playwright's sync API keeps an event loop running in this thread while it lives; Django
    # would then refuse the tests' own (plain, synchronous) database calls as "async". Allowed
    # only for as long as the browser lives, so the rest of the suite keeps Django's check.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class PageWatch:
    """What a page did that it must not: CSP violations, console errors, requests to other origins."""

    origin: str
    violations: list[str]
    console_errors: list[str]
    foreign_requests: list[str]
    requested: list[str] = field(default_factory=list)  # every URL the page asked for

    def assert_clean(self) -> None:
        assert self.violations == [], f"CSP violations: {self.violations}"
        assert self.foreign_requests == [], f"requests to other origins: {self.foreign_requests}"
        # The API's deliberate refusals (401/403/410) show as "Failed to load resource" lines;
        # anything else (a script error, a CSP report) is a bug.
        unexpected = [line for line in self.console_errors if "Failed to load resource" not in line]
        assert unexpected == [], f"console errors: {unexpected}"


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US", base_url=live_server.url)
    page = context.new_page()
    watch = PageWatch(origin=live_server.url, violations=[], console_errors=[], foreign_requests=[])
    page.on("request", lambda req: watch.requested.append(req.url))
    page.on("console", lambda message: message.type == "error" and watch.console_errors.append(message.text))
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith((live_server.url + "/", "blob:", "data:"))
            else watch.foreign_requests.append(req.url)
        ),
    )
    # The page reports CSP violations to us through a binding, never to a server.
    page.expose_function("reportViolation", lambda text: watch.violations.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.watch = watch
    yield page
    shoot(page, request.node.name, "end")
    # Stop the page's polling and let the live server finish what it is serving before the
    # database is flushed: on SQLite the server thread shares the test's connection.
    page.goto("about:blank")
    page.wait_for_timeout(300)
    context.close()


def shoot(page, test_name: str, step: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test_name)}-{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- Data --------------------------------------------------------------------------------------
@pytest.fixture
def system():
    from apps.common.context import RequestContext

    return RequestContext.system("browser tests")


@pytest.fixture
def facility(transactional_db):
    from apps.facilities.models import Facility

    return Facility.objects.create(name="Loopback review room", country="DE", networks=["127.0.0.0/8"], regions=["EU"])


@dataclass
class Invited:
    email: str
    invite_path: str  # "/invite/#<token>": the token is the fragment, which the browser never sends

    @property
    def token(self) -> str:
        return self.invite_path.split("#", 1)[1]


@pytest.fixture
def invite(facility, system):
    """``invite(email)``: a reviewer invited to the loopback facility, for all demo languages."""
    from apps.accounts.services import reviewer_invite

    def make(email: str = "rita@example.org") -> Invited:
        _, url = reviewer_invite(
            email=email,
            facility_name=facility.name,
            languages=["en-US", "de-DE", "fr-FR"],
            vetted_until=datetime.now(UTC).date() + timedelta(days=90),
            context=system,
        )
        parts = urlsplit(url)
        return Invited(email=email, invite_path=f"{parts.path}#{parts.fragment}")

    return make


@dataclass
class Reviewer:
    email: str
    password: str
    key: bytes

    def code(self, *, steps_ahead: int = 1) -> str:
        # The enrolment used the current step; login takes the next one, which the device's
        # one-step tolerance accepts, because a code is accepted only once.
        return f"{totp(self.key, drift=steps_ahead):06d}"


def key_of(manual_key: str) -> bytes:
    cleaned = re.sub(r"[^A-Z2-7]", "", manual_key.upper())
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


@pytest.fixture
def reviewer(invite, system):
    """``reviewer(email)``: an enrolled reviewer (password set, authenticator confirmed)."""
    from apps.accounts.services import invite_accept, invite_confirm

    def make(email: str = "rita@example.org") -> Reviewer:
        invited = invite(email)
        enrolment = invite_accept(token=invited.token, password=PASSWORD, client_address=LOOPBACK, context=system)
        key = key_of(enrolment.manual_key)
        invite_confirm(token=invited.token, otp=f"{totp(key):06d}", client_address=LOOPBACK, context=system)
        return Reviewer(email=email, password=PASSWORD, key=key)

    return make


@pytest.fixture
def ingest_key(transactional_db, system):
    from apps.accounts.services import api_key_create

    api_key, secret = api_key_create(
        name="product-backend", scopes=["clips:ingest", "subjects:manage", "transcripts:read"], context=system
    )
    return api_key, secret


@pytest.fixture
def demo_clip(ingest_key, system):
    """``demo_clip("en-US-1", subject_id=...)``: ingests one spoken demo fixture; returns its row."""
    from apps.clips.services import clip_ingest

    def make(name: str, *, subject_id: str):
        return clip_ingest(
            audio=(DEMO_AUDIO / f"{name}.wav").read_bytes(),
            subject_id=subject_id,
            language=name.rsplit("-", 1)[0],
            region="EU",
            activation="deliberate",
            captured_at=None,
            api_key=ingest_key[0],
            context=system,
        )

    return make


def service_call(live_server, secret: str, method: str, path: str) -> tuple[int, dict]:
    """The product backend calling the API with its key (what opts a subject out)."""
    req = urllib.request.Request(  # noqa: S310 - the live server on 127.0.0.1
        live_server.url + path, method=method, headers={"Authorization": f"Api-Key {secret}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def api_login(page, reviewer: Reviewer) -> None:
    """Log in through the session API from inside the browser context (shares its cookies)."""
    page.request.get("/api/v1/auth/login")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        "/api/v1/auth/login",
        data={"username": reviewer.email, "password": reviewer.password, "otp": reviewer.code()},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status == 200, response.text()


def open_workbench(page, reviewer: Reviewer) -> None:
    api_login(page, reviewer)
    page.goto("/review/")


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect
