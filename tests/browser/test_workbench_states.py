"""Each state of the workbench, reached for real: the server refuses, the page says so clearly."""

from __future__ import annotations

import pytest

from tests.browser.conftest import expect, open_workbench, shoot

pytestmark = pytest.mark.browser


def test_it_says_when_there_is_nothing_to_review_and_finds_a_clip_when_asked_again(page, reviewer, demo_clip, request):
    check = expect()
    open_workbench(page, reviewer())

    check(page.locator("#workbench")).to_have_attribute("data-state", "empty")
    check(page.locator("#state-title")).to_have_text("Nothing to review")
    check(page.locator("#state-title")).to_be_focused()
    check(page.locator("#status")).to_have_text("Nothing to review.")
    shoot(page, request.node.name, "empty")

    demo_clip("fr-FR-1", subject_id="subject-f")
    page.locator("#state-action").click()
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    check(page.locator("#clip-language")).to_have_text("fr-FR")
    page.watch.assert_clean()


def test_it_shows_the_refusal_when_the_session_is_used_outside_the_facility_network(
    page, reviewer, demo_clip, facility, request
):
    from apps.audit.models import AccessEvent

    check = expect()
    demo_clip("en-US-2", subject_id="subject-a")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")

    # The facility moves to another network: this browser on 127.0.0.1 is now outside it.
    type(facility).objects.filter(pk=facility.pk).update(networks=["10.20.0.0/16"])
    page.reload()

    check(page.locator("#workbench")).to_have_attribute("data-state", "outside_network")
    check(page.locator("#state-title")).to_have_text("Refused: outside facility network")
    check(page.locator("#clip")).to_be_hidden()
    assert AccessEvent.objects.filter(outcome="denied", reason="outside_facility_network").exists()
    shoot(page, request.node.name, "outside")


def test_it_ends_the_page_when_the_reviewer_is_suspended_while_a_clip_is_open(
    page, reviewer, demo_clip, system, request
):
    from apps.accounts.services import reviewer_suspend

    check = expect()
    demo_clip("de-DE-2", subject_id="subject-d")
    rita = reviewer()
    open_workbench(page, rita)
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")

    reviewer_suspend(email=rita.email, context=system)

    # The page's next poll meets a dead session.
    check(page.locator("#workbench")).to_have_attribute("data-state", "session_ended", timeout=12000)
    check(page.locator("#state-title")).to_have_text("Session ended")
    shoot(page, request.node.name, "session-ended")
    page.locator("#state-action").click()
    page.wait_for_url("**/login/**")


def test_it_shows_an_expired_lease_and_gives_the_clip_back(page, reviewer, demo_clip, settings, request):
    check = expect()
    settings.REVIEWSVC_LEASE_SECONDS = 3
    demo_clip("fr-FR-2", subject_id="subject-e")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    check(page.locator("#warning")).to_be_visible()

    check(page.locator("#workbench")).to_have_attribute("data-state", "lease_expired", timeout=12000)
    check(page.locator("#state-title")).to_have_text("Lease expired")
    shoot(page, request.node.name, "lease-expired")

    settings.REVIEWSVC_LEASE_SECONDS = 600
    page.locator("#state-action").click()
    check(page.locator("#clip-language")).to_have_text("fr-FR")
    page.watch.assert_clean()


def test_release_gives_the_clip_back_to_the_queue(page, reviewer, demo_clip):
    from apps.clips.models import Clip

    check = expect()
    clip = demo_clip("en-US-1", subject_id="subject-a")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")

    page.locator("#release").click()

    check(page.locator("#workbench")).to_have_attribute("data-state", "released")
    assert Clip.objects.get(pk=clip.pk).status == "queued"
    page.watch.assert_clean()


def test_typing_sends_throttled_heartbeats_that_extend_the_lease(page, reviewer, demo_clip, monkeypatch):
    check = expect()
    monkeypatch.setattr("apps.reviews.pages.HEARTBEAT_SECONDS", 1)
    demo_clip("en-US-1", subject_id="subject-a")
    heartbeats = []
    page.on("request", lambda req: req.url.endswith("/heartbeat") and heartbeats.append(req.method))
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")

    # About 3 seconds of typing, one key per 100 ms: a heartbeat per second, not per key.
    page.locator("#transcript").press_sequentially("What is the weather like in Ber", delay=100)
    page.wait_for_timeout(300)

    assert 2 <= len(heartbeats) <= 5, heartbeats
    assert set(heartbeats) == {"POST"}
    page.watch.assert_clean()


def test_it_warns_before_the_idle_timeout_and_keeps_the_session_on_request(page, reviewer, settings, request):
    check = expect()
    # Two minutes and five seconds of idle time: the warning (two minutes ahead) comes after ~5 s.
    settings.SESSION_IDLE_SECONDS = 125
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-state", "empty")

    check(page.locator("#warning")).to_be_visible(timeout=10000)
    check(page.locator("#warning-text")).to_contain_text("signed out soon")
    shoot(page, request.node.name, "idle-warning")
    page.locator("#keep-working").click()

    check(page.locator("#warning")).to_be_hidden()
    check(page.locator("#workbench")).to_have_attribute("data-state", "empty")
    page.watch.assert_clean()


def test_a_flag_alone_is_sent_from_the_keyboard_and_an_empty_transcript_without_one_is_held_back(
    page, reviewer, demo_clip, ingest_key, live_server
):
    from tests.browser.conftest import service_call

    check = expect()
    clip = demo_clip("fr-FR-1", subject_id="subject-f")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    check(page.locator("#transcript")).to_be_focused()

    page.keyboard.press("Control+Enter")
    check(page.locator("#form-error")).to_contain_text("set a flag")

    # Transcript → first flag → "No speech", by Tab and Space only.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    check(page.locator('input[value="no_speech"]')).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Control+Enter")

    check(page.locator("#workbench")).to_have_attribute("data-state", "empty")
    status, body = service_call(live_server, ingest_key[1], "GET", f"/api/v1/clips/{clip.id}/transcript")
    assert status == 200
    assert (body["text"], body["flags"]) == ("", ["no_speech"])
    page.watch.assert_clean()


def test_after_an_opt_out_the_audio_already_in_the_page_does_not_play_again(
    page, reviewer, demo_clip, ingest_key, live_server, monkeypatch
):
    from tests.browser.conftest import service_call

    check = expect()
    # No background poll in this test: only the check that playback itself makes can notice.
    monkeypatch.setattr("apps.reviews.pages.POLL_MS", 600_000)
    monkeypatch.setattr("apps.reviews.pages.IDLE_POLL_MS", 600_000)
    demo_clip("en-US-2", subject_id="subject-a")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    page.evaluate(
        "() => { window.playedAfterOptOut = false; document.getElementById('audio')"
        ".addEventListener('playing', () => { window.playedAfterOptOut = true; }); }"
    )
    # Past the two seconds for which the audio fetch counts as the server's word on the lease.
    page.wait_for_timeout(2500)

    status, _ = service_call(live_server, ingest_key[1], "PUT", "/api/v1/subjects/subject-a/opt-out")
    assert status == 200
    page.keyboard.press("Escape")

    check(page.locator("#workbench")).to_have_attribute("data-state", "withdrawn")
    assert page.evaluate("() => window.playedAfterOptOut") is False
    page.watch.assert_clean()


def test_logging_out_ends_the_session_and_the_workbench_sends_back_to_login(page, reviewer, demo_clip):
    check = expect()
    demo_clip("de-DE-1", subject_id="subject-d")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")

    page.locator("#logout").click()
    page.wait_for_url("**/login/")

    page.goto("/review/")
    page.wait_for_url("**/login/?next=/review/")
    response = page.request.post("/api/v1/review/next")
    assert (response.status, response.json()["error"]["code"]) == (401, "authentication_required")
