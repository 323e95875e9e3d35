"""A new reviewer's whole day in real Chromium: enrol, log in, listen, transcribe, next, opt-out."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, expect, key_of, service_call, shoot

pytestmark = pytest.mark.browser

AUDIO = "document.getElementById('audio')"


def code(key: bytes, steps_ahead: int) -> str:
    from django_otp.oath import totp

    return f"{totp(key, drift=steps_ahead):06d}"


def test_a_new_reviewer_enrols_listens_transcribes_and_sees_an_opt_out_withdraw_the_clip(
    page, live_server, invite, demo_clip, ingest_key, request
):
    check = expect()
    first = demo_clip("en-US-1", subject_id="subject-a")
    second = demo_clip("de-DE-1", subject_id="subject-b")
    invited = invite("rita@example.org")

    # Enrolment through the invite page: own password, then the authenticator's key from the page.
    page.goto(invited.invite_path)
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.locator("#accept-form button[type=submit]").click()
    check(page.locator("#manual-key")).not_to_be_empty()
    assert page.locator("#qr").get_attribute("src").startswith("data:image/svg+xml")
    key = key_of(page.locator("#manual-key").text_content())
    page.fill("#otp", code(key, 0))
    shoot(page, request.node.name, "1-enrol")
    page.locator("#confirm-form button[type=submit]").click()
    check(page.locator("#step-done")).to_be_visible()

    # Login with password and a code computed here; the enrolment's code is spent, so the next step's.
    page.goto("/login/")
    page.fill("#username", invited.email)
    page.fill("#password", PASSWORD)
    page.fill("#otp", code(key, 1))
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_url("**/review/")

    # The first clip is leased and its audio is ready; the transcript box has the focus.
    workbench = page.locator("#workbench")
    check(workbench).to_have_attribute("data-audio", "ready", timeout=10000)
    check(page.locator("#clip-language")).to_have_text("en-US")
    first_assignment = workbench.get_attribute("data-assignment")
    check(page.locator("#transcript")).to_be_focused()

    # Escape plays: the position advances, and the player's duration is the clip's.
    page.keyboard.press("Escape")
    # A function, not an expression string: the page's CSP forbids eval, also for the test harness.
    page.wait_for_function(f"() => {AUDIO}.currentTime > 0.4", timeout=10000)
    duration_ms = page.evaluate(f"{AUDIO}.duration") * 1000
    assert abs(duration_ms - first.duration_ms) < 50
    check(workbench).to_have_attribute("data-waveform", "drawn")
    shoot(page, request.node.name, "2-playing")

    # Slower, back 3 s, pause: all from the keyboard while the transcript has the focus.
    page.keyboard.press("Alt+Comma")
    assert page.evaluate(f"{AUDIO}.playbackRate") == pytest.approx(0.9)
    check(page.locator("#rate")).to_have_text("0.9×")
    page.keyboard.press("Alt+KeyJ")
    assert page.evaluate(f"{AUDIO}.currentTime") < 0.5
    page.keyboard.press("Escape")
    assert page.evaluate(f"{AUDIO}.paused") is True

    page.keyboard.type("What's the weather like in Berlin tomorrow?")
    # Nothing the reviewer types is kept by the browser.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    shoot(page, request.node.name, "3-typed")
    page.keyboard.press("Control+Enter")

    # The next clip appears: another lease, another language.
    check(page.locator("#clip-language")).to_have_text("de-DE", timeout=10000)
    check(workbench).to_have_attribute("data-audio", "ready", timeout=10000)
    assert workbench.get_attribute("data-assignment") != first_assignment
    assert page.locator("#transcript").input_value() == ""
    status, body = service_call(live_server, ingest_key[1], "GET", f"/api/v1/clips/{first.id}/transcript")
    assert status == 200
    assert body["text"] == "What's the weather like in Berlin tomorrow?"

    # The speaker of the open clip opts out through the API: the page turns to its withdrawn state.
    page.keyboard.type("Wie wird")
    status, body = service_call(live_server, ingest_key[1], "PUT", "/api/v1/subjects/subject-b/opt-out")
    assert (status, body["withdrawn"]) == (200, 1)
    check(workbench).to_have_attribute("data-state", "withdrawn", timeout=12000)
    check(page.locator("#state-title")).to_have_text("Clip withdrawn")
    check(page.locator("#clip")).to_be_hidden()
    assert page.evaluate(f"{AUDIO}.getAttribute('src')") is None
    assert str(second.id) not in page.content()
    shoot(page, request.node.name, "4-withdrawn")

    page.watch.assert_clean()
