"""Security keys in real Chromium, with its virtual authenticator (DevTools ``WebAuthn`` domain).

WebAuthn needs a secure context and a host name as RP ID: the pages are opened at
http://localhost:PORT (a secure context like https), the RP ID is ``localhost`` and the only
origin accepted is that one.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, shoot

pytestmark = pytest.mark.browser


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def local_origin(live_server, settings):
    origin = live_server.url.replace("127.0.0.1", "localhost")
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [origin]
    # A get() for a key the authenticator does not hold ends when this runs out.
    settings.OTP_WEBAUTHN_TIMEOUT_SECONDS = 3
    return origin


@pytest.fixture
def key_page(browser, local_origin, request):
    """A page at http://localhost with one virtual USB security key attached."""
    from tests.browser.conftest import PageWatch

    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US", base_url=local_origin)
    page = context.new_page()
    watch = PageWatch(origin=local_origin, violations=[], console_errors=[], foreign_requests=[])
    page.on("console", lambda message: message.type == "error" and watch.console_errors.append(message.text))
    page.expose_function("reportViolation", lambda text: watch.violations.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));"
    )
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": False,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    page.watch = watch
    page.authenticator = lambda: cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    yield page
    shoot(page, request.node.name, "end")
    page.goto("about:blank")
    page.wait_for_timeout(300)
    context.close()


@pytest.fixture
def key_facility(facility, system):
    from apps.facilities.services import facility_sign_in_change

    return facility_sign_in_change(facility=facility, second_factor="webauthn", context=system)


def sign_in_with_key(page, email: str) -> None:
    page.goto("/login/")
    page.fill("#username", email)
    page.fill("#password", PASSWORD)
    page.locator("#login-key").click()


def test_a_reviewer_registers_a_key_signs_in_with_password_and_key_and_loses_it_by_reenrolment(
    key_page, key_facility, invite, system, request
):
    from django_otp_webauthn.models import WebAuthnCredential

    from apps.accounts.services import reviewer_reenrol

    check = expect()
    page = key_page
    invited = invite("kira@example.org")

    page.goto(invited.invite_path)
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.locator("#accept-form button[type=submit]").click()
    # A key-only facility offers no authenticator app.
    check(page.locator("#device-title")).to_have_text("2. Register your security key")
    check(page.locator("#totp-enrol")).to_be_hidden()
    shoot(page, request.node.name, "1-register")
    page.locator("#register-key").click()
    check(page.locator("#step-done")).to_be_visible()
    check(page.locator("#invite-status")).to_contain_text("with a security key")
    assert len(page.authenticator()) == 1
    assert WebAuthnCredential.objects.filter(user__username=invited.email, confirmed=True).count() == 1

    sign_in_with_key(page, invited.email)
    page.wait_for_url("**/review/")
    check(page.locator("#workbench")).to_be_visible()
    shoot(page, request.node.name, "2-signed-in")
    page.watch.assert_clean()

    # Re-enrolment removes every key on the server: the one in the authenticator no longer counts.
    reviewer_reenrol(email=invited.email, context=system)
    assert not WebAuthnCredential.objects.filter(user__username=invited.email).exists()
    page.context.clear_cookies()
    sign_in_with_key(page, invited.email)
    # The server now offers only a decoy id, which no authenticator holds: nothing to sign with.
    check(page.locator("#login-status")).to_have_text(
        "The security key was not used (cancelled or timed out).", timeout=15000
    )
    assert page.url.endswith("/login/")
    page.watch.assert_clean()


def test_a_key_facility_refuses_a_totp_sign_in_in_the_browser(page, reviewer, facility, system, request):
    from apps.audit.models import AccessEvent
    from apps.facilities.services import facility_sign_in_change

    check = expect()
    enrolled = reviewer("tom@example.org")
    facility_sign_in_change(facility=facility, second_factor="webauthn", context=system)
    page.goto("/login/")
    page.fill("#username", enrolled.email)
    page.fill("#password", enrolled.password)
    page.fill("#otp", enrolled.code())
    page.locator("#login-form button[type=submit]").click()
    check(page.locator("#login-status")).to_contain_text("wrong")
    assert page.url.endswith("/login/")
    denied = AccessEvent.objects.filter(action="auth.login_failed").order_by("seq").last()
    assert (denied.outcome, denied.reason) == ("denied", "totp_not_allowed")
    shoot(page, request.node.name, "refused")
    page.watch.assert_clean()
