"""The transcriber's controls in real Chromium: focus, loop, rewind, speed, keys, withdrawal, work kept."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import api_login, expect, open_workbench, service_call, shoot

pytestmark = pytest.mark.browser


def audio(page, prop: str):
    return page.evaluate(f"() => document.getElementById('audio').{prop}")


def set_position(page, seconds: float) -> None:
    page.evaluate(f"() => {{ document.getElementById('audio').currentTime = {seconds}; }}")
    page.wait_for_function(f"() => Math.abs(document.getElementById('audio').currentTime - {seconds}) < 0.01")


def ready(page, reviewer, demo_clip, name: str = "en-US-1", subject_id: str = "subject-a"):
    clip = demo_clip(name, subject_id=subject_id)
    open_workbench(page, reviewer())
    expect()(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    expect()(page.locator("#workbench")).to_have_attribute("data-waveform", "drawn")
    return clip


def wave_point(page, fraction: float) -> tuple[float, float]:
    box = page.locator("#waveform").bounding_box()
    return box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.6


def test_a_click_on_the_waveform_seeks_and_the_next_words_typed_still_reach_the_transcript(page, reviewer, demo_clip):
    check = expect()
    ready(page, reviewer, demo_clip)
    page.keyboard.type("Turn on ")

    x, y = wave_point(page, 0.5)
    page.mouse.click(x, y)
    page.keyboard.type("the lights")

    check(page.locator("#transcript")).to_be_focused()
    check(page.locator("#transcript")).to_have_value("Turn on the lights")
    assert audio(page, "currentTime") == pytest.approx(audio(page, "duration") / 2, abs=0.15)
    # A button click hands the focus back too.
    page.locator("#forward").click()
    check(page.locator("#transcript")).to_be_focused()
    page.watch.assert_clean()


def playing_slowly(page) -> None:
    for _ in range(5):
        page.keyboard.press("Alt+Comma")
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0.2")


def seconds_until_silent(page) -> float:
    """From now until the audio element's time stops advancing (paused or emptied)."""
    started = time.monotonic()
    page.wait_for_function(
        "() => { const a = document.getElementById('audio'); return a.paused || !a.getAttribute('src'); }",
        timeout=5000,
        polling=20,
    )
    elapsed = time.monotonic() - started
    first = audio(page, "currentTime")
    page.wait_for_timeout(300)
    assert audio(page, "currentTime") == first
    return elapsed


def test_an_opt_out_stops_the_sound_within_a_second_of_the_api_answering(
    page, reviewer, demo_clip, ingest_key, live_server
):
    check = expect()
    ready(page, reviewer, demo_clip, "en-US-2", "subject-o")
    playing_slowly(page)

    status, _ = service_call(live_server, ingest_key[1], "PUT", "/api/v1/subjects/subject-o/opt-out")
    assert status == 200

    assert seconds_until_silent(page) < 1.0
    check(page.locator("#workbench")).to_have_attribute("data-state", "withdrawn")
    page.watch.assert_clean()


def test_a_suspension_stops_the_sound_within_a_second(page, reviewer, demo_clip, system):
    from apps.accounts.services import reviewer_suspend

    check = expect()
    rita = reviewer()
    demo_clip("de-DE-1", subject_id="subject-s")
    open_workbench(page, rita)
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    playing_slowly(page)

    reviewer_suspend(email=rita.email, context=system)

    assert seconds_until_silent(page) < 1.0
    check(page.locator("#workbench")).to_have_attribute("data-state", "session_ended")


def test_a_region_dragged_on_the_waveform_loops_and_keys_set_a_loop_where_the_playhead_is(
    page, reviewer, demo_clip, request
):
    check = expect()
    ready(page, reviewer, demo_clip)
    duration = audio(page, "duration")
    page.keyboard.type("x")

    start, y = wave_point(page, 0.2)
    end, _ = wave_point(page, 0.6)
    page.mouse.move(start, y)
    page.mouse.down()
    page.mouse.move((start + end) / 2, y, steps=4)
    page.mouse.move(end, y, steps=4)
    page.mouse.up()

    check(page.locator("#transcript")).to_be_focused()
    a, b = (float(v) for v in page.locator("#workbench").get_attribute("data-loop").split("-"))
    assert (a, b) == (pytest.approx(0.2 * duration, abs=0.1), pytest.approx(0.6 * duration, abs=0.1))
    check(page.locator("#loop")).to_contain_text("Loop 0:0")
    page.keyboard.press("Escape")
    # Played for more than twice the loop: the playhead never leaves it and has wrapped.
    samples = []
    deadline = time.monotonic() + 2.5 * (b - a) + 0.5
    while time.monotonic() < deadline:
        samples.append(audio(page, "currentTime"))
        page.wait_for_timeout(40)
    shoot(page, request.node.name, "looping")
    page.keyboard.press("Escape")
    assert all(a - 0.05 <= t <= b + 0.15 for t in samples), samples
    assert any(later < earlier for earlier, later in zip(samples, samples[1:], strict=False)), samples

    # By keys: from here, to here; then cleared.
    set_position(page, 0.5)
    page.keyboard.press("Alt+BracketLeft")
    set_position(page, 1.5)
    page.keyboard.press("Alt+BracketRight")
    check(page.locator("#workbench")).to_have_attribute("data-loop", "0.50-1.50")
    page.keyboard.press("Alt+Backslash")
    check(page.locator("#workbench")).not_to_have_attribute("data-loop", "0.50-1.50")
    check(page.locator("#loop")).to_have_text("No loop")
    page.watch.assert_clean()


PLAYING = "() => !document.getElementById('audio').paused"


def pause(page) -> float:
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('audio').paused", timeout=5000)
    return audio(page, "currentTime")


# Where the page resumes from, read in its own call to play(), after any rewind it applied. Neither
# a later read nor the "play" event will do: both come after a delay that load does not bound (the
# event may even come after the test has seen the element playing), and playback moves on meanwhile.
RESUME_POSITION = """() => {
  const player = document.getElementById("audio");
  window.resumedAt = undefined;
  player.play = function () {
    window.resumedAt = this.currentTime;
    return HTMLMediaElement.prototype.play.call(this);
  };
}"""


def test_resuming_rewinds_by_the_chosen_seconds_and_not_at_all_when_switched_off(page, reviewer, demo_clip):
    ready(page, reviewer, demo_clip)
    page.select_option("#rewind", "1.5")
    expect()(page.locator("#transcript")).to_be_focused()

    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1.7", timeout=5000)
    paused_at = pause(page)
    page.evaluate(RESUME_POSITION)
    page.keyboard.press("Escape")
    page.wait_for_function(PLAYING, timeout=5000)
    assert page.evaluate("() => window.resumedAt") == pytest.approx(paused_at - 1.5, abs=0.01)

    paused_at = pause(page)
    page.select_option("#rewind", "0")
    page.evaluate(RESUME_POSITION)
    page.keyboard.press("Escape")
    page.wait_for_function(PLAYING, timeout=5000)
    assert page.evaluate("() => window.resumedAt") == pytest.approx(paused_at, abs=0.01)
    page.keyboard.press("Escape")
    page.watch.assert_clean()


def test_speed_steps_by_tenths_between_half_and_double_and_lasts_for_the_next_clip(page, reviewer, demo_clip):
    check = expect()
    ready(page, reviewer, demo_clip)
    demo_clip("de-DE-2", subject_id="subject-b")
    for _ in range(7):
        page.keyboard.press("Alt+Comma")
    assert audio(page, "playbackRate") == pytest.approx(0.5)
    check(page.locator("#rate")).to_have_text("0.5×")
    for _ in range(16):
        page.keyboard.press("Alt+Period")
    assert audio(page, "playbackRate") == pytest.approx(2.0)
    for _ in range(3):
        page.keyboard.press("Alt+Comma")
    check(page.locator("#rate")).to_have_text("1.7×")
    page.keyboard.press("Alt+ArrowDown")
    assert audio(page, "volume") == pytest.approx(0.9)

    page.keyboard.press("Alt+KeyN")
    page.keyboard.press("Control+Enter")
    check(page.locator("#clip-language")).to_have_text("de-DE")
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    assert audio(page, "playbackRate") == pytest.approx(1.7)
    assert audio(page, "volume") == pytest.approx(0.9)
    # Kept in this page's memory only.
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    page.watch.assert_clean()


def test_keys_insert_the_time_flag_zoom_and_release_and_the_sheet_lists_them(page, reviewer, demo_clip, request):
    from apps.clips.models import Clip

    check = expect()
    page.set_viewport_size({"width": 1280, "height": 800})
    clip = ready(page, reviewer, demo_clip)
    check(page.locator("#transcript")).to_have_attribute("lang", "en-US")

    set_position(page, 1.2)
    page.keyboard.type("lights ")
    page.keyboard.press("Alt+KeyT")
    page.keyboard.type("on")
    check(page.locator("#transcript")).to_have_value("lights [0:01.2] on")

    page.keyboard.press("Alt+KeyS")
    assert page.locator('input[value="sensitive"]').is_checked()
    page.keyboard.press("Alt+KeyS")
    assert not page.locator('input[value="sensitive"]').is_checked()

    page.keyboard.press("Alt+Equal")
    page.keyboard.press("Alt+Equal")
    check(page.locator("#zoom")).to_have_text("4×")
    x, y = wave_point(page, 0.5)
    page.mouse.move(x, y)
    check(page.locator("#hover-time")).to_contain_text("Pointer at 0:01")
    assert float(page.locator("#waveform").get_attribute("data-hover")) == pytest.approx(1.2, abs=0.25)

    page.keyboard.press("Alt+Slash")
    sheet = page.locator("#shortcut-sheet")
    check(sheet).to_be_visible()
    for action in ("Flag: no speech", "Release the clip", "Keep working", "Take the clip again", "Loop starts here"):
        check(sheet).to_contain_text(action)
    shoot(page, request.node.name, "sheet")
    page.keyboard.press("Escape")
    check(sheet).to_be_hidden()
    check(page.locator("#transcript")).to_be_focused()
    assert audio(page, "paused") is True

    page.keyboard.press("Alt+KeyR")
    check(page.locator("#workbench")).to_have_attribute("data-state", "released")
    assert Clip.objects.get(pk=clip.pk).status == "queued"
    # Outside a text box, ? opens the list.
    page.keyboard.press("?")
    check(sheet).to_be_visible()
    page.watch.assert_clean()


def test_the_slider_announces_every_few_seconds_while_playing_not_every_frame(page, reviewer, demo_clip):
    ready(page, reviewer, demo_clip)
    page.evaluate(
        "() => { window.announced = 0; new MutationObserver(() => { window.announced++; })"
        ".observe(document.getElementById('waveform'), {attributeFilter: ['aria-valuetext']}); }"
    )
    page.keyboard.press("Escape")
    page.wait_for_timeout(2000)
    page.keyboard.press("Escape")

    # The start, perhaps one on the way, and the pause.
    assert page.evaluate("() => window.announced") <= 3


def test_when_the_lease_runs_out_the_text_stays_to_copy_and_one_key_takes_the_clip_again(
    page, reviewer, demo_clip, settings, request
):
    from apps.reviews.models import Assignment

    check = expect()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    settings.REVIEWSVC_LEASE_SECONDS = 4
    ready(page, reviewer, demo_clip, "fr-FR-1", "subject-f")
    first = page.locator("#workbench").get_attribute("data-assignment")
    page.keyboard.type("Quel temps fait-il")
    page.keyboard.press("Alt+KeyA")
    check(page.locator("#warning")).to_be_visible()
    check(page.locator("#warning-text")).to_contain_text("your text stays here")
    check(page.locator("#warning-countdown")).to_contain_text("0:0")

    check(page.locator("#workbench")).to_have_attribute("data-state", "lease_expired", timeout=10000)
    check(page.locator("#kept-text")).to_have_value("Quel temps fait-il")
    check(page.locator("#kept-text")).to_have_attribute("lang", "fr-FR")
    shoot(page, request.node.name, "expired")
    page.keyboard.press("Alt+KeyC")
    check(page.locator("#status")).to_contain_text("clipboard")
    assert page.evaluate("() => navigator.clipboard.readText()") == "Quel temps fait-il"
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0

    settings.REVIEWSVC_LEASE_SECONDS = 600
    page.keyboard.press("Alt+KeyG")
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    check(page.locator("#transcript")).to_have_value("Quel temps fait-il")
    assert page.locator('input[value="accidental_activation"]').is_checked()
    second = page.locator("#workbench").get_attribute("data-assignment")
    assert second != first
    assert Assignment.objects.get(pk=second).clip_id == Assignment.objects.get(pk=first).clip_id
    page.watch.assert_clean()


def test_take_it_again_says_so_when_someone_else_took_the_clip_and_the_text_stays(
    page, browser, live_server, reviewer, demo_clip, settings
):
    check = expect()
    settings.REVIEWSVC_LEASE_SECONDS = 2
    ready(page, reviewer, demo_clip)
    page.keyboard.type("Good morning")
    check(page.locator("#workbench")).to_have_attribute("data-state", "lease_expired", timeout=10000)

    # Another reviewer of the facility leases the clip meanwhile.
    settings.REVIEWSVC_LEASE_SECONDS = 600
    other_context = browser.new_context(base_url=live_server.url)
    try:
        other_page = other_context.new_page()
        api_login(other_page, reviewer("olga@example.org"))
        csrf = next(c["value"] for c in other_context.cookies() if c["name"] == "csrftoken")
        assert other_page.request.post("/api/v1/review/next", headers={"X-CSRFToken": csrf}).status == 200
    finally:
        other_context.close()

    page.keyboard.press("Alt+KeyG")
    check(page.locator("#state-text")).to_contain_text("no longer available")
    check(page.locator("#kept-text")).to_have_value("Good morning")
    check(page.locator("#retake")).to_be_hidden()
    page.watch.assert_clean()
