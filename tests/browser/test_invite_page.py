"""The invite page in Chromium: live password feedback, QR code and key, confirm, a used link."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, key_of, shoot

pytestmark = pytest.mark.browser


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_the_invite_page_guides_through_password_and_authenticator_and_then_refuses_the_used_link(
    page, invite, request
):
    from django_otp.oath import totp

    check = expect()
    invited = invite("nora@example.org")
    page.goto(invited.invite_path)
    # The steps stay hidden until the server has said the link is usable; keys pressed before
    # that reach no field, and a text check alone passes on the hidden title.
    check(page.locator("#password")).to_be_visible()
    check(page.locator("#password-title")).to_have_text("1. Choose your password")

    # Feedback as one types, from the server's own validators.
    page.locator("#password").press_sequentially("short")
    check(page.locator("#password-feedback")).to_contain_text("too short")
    page.locator("#password").fill("password1234")
    page.locator("#password").dispatch_event("input")
    check(page.locator("#password-feedback")).to_contain_text("too common")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").dispatch_event("input")
    check(page.locator("#password-feedback")).to_have_text("This password meets the rules.")
    page.locator("#password2").press_sequentially(PASSWORD[:-1] + "x")
    check(page.locator("#password2-feedback")).to_have_text("The passwords differ.")
    page.locator("#password2").fill(PASSWORD)
    page.locator("#password2").dispatch_event("input")
    check(page.locator("#password2-feedback")).to_have_text("The passwords match.")
    shoot(page, request.node.name, "password")
    page.locator("#accept-form button[type=submit]").click()

    # The QR code (an SVG) and the key, grouped for typing by hand.
    check(page.locator("#step-device")).to_be_visible()
    check(page.locator("#device-title")).to_be_focused()
    assert page.locator("#qr").evaluate("img => img.complete && img.naturalWidth > 0")
    manual = page.locator("#manual-key").text_content()
    assert " " in manual
    key = key_of(manual)
    shoot(page, request.node.name, "authenticator")

    page.fill("#otp", "000000" if f"{totp(key):06d}" != "000000" else "111111")
    page.locator("#confirm-form button[type=submit]").click()
    check(page.locator("#invite-status")).to_contain_text("not valid")
    # django-otp throttles the device for a second after a failure (OTP_TOTP_THROTTLE_FACTOR).
    page.wait_for_timeout(1500)
    page.fill("#otp", f"{totp(key):06d}")
    page.locator("#confirm-form button[type=submit]").click()
    check(page.locator("#step-done")).to_be_visible()
    check(page.locator("#invite-status")).to_have_text("Enrolled as nora@example.org.")

    # The link is spent: opening it again says so before anything is typed.
    page.goto("about:blank")
    page.goto(invited.invite_path)
    check(page.locator("#problem-title")).to_have_text("This invite link has already been used")
    check(page.locator("#invite-steps")).to_be_hidden()
    shoot(page, request.node.name, "used")
    page.watch.assert_clean()
    # The token is in the fragment and the bodies: no request the page made carried it in its URL.
    assert page.watch.requested
    assert not [url for url in page.watch.requested if invited.token in url]
