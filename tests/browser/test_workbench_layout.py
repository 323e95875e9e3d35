"""Layout and accessibility in real Chromium: one screen at laptop sizes, axe-core clean, offline docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import expect, open_workbench, shoot

pytestmark = pytest.mark.browser

# axe-core (MPL-2.0, tests/browser/vendor/axe-core/LICENSE), for the tests only: never served.
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# What has to be on screen while working: the player, the transcript, the flags, the actions.
WORKING_PARTS = ["#waveform", "#play", "#transcript", ".flags", "#submit", "#release", ".progress", ".shortcuts"]
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
}"""


def below_the_fold(page) -> list[str]:
    height = page.viewport_size["height"]
    parts = [
        part
        for part in WORKING_PARTS
        if page.locator(part).bounding_box()["y"] + page.locator(part).bounding_box()["height"] > height
    ]
    if page.evaluate("() => document.scrollingElement.scrollHeight") > height:
        parts.append("the page scrolls")
    return parts


@pytest.mark.parametrize("size", [(1280, 800), (1366, 768)], ids=["1280x800", "1366x768"])
def test_everything_needed_while_working_fits_without_scrolling(page, reviewer, demo_clip, size, request):
    check = expect()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    demo_clip("en-US-1", subject_id="subject-a")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-waveform", "drawn")
    # At work: a loop dragged on the waveform, some text typed.
    box = page.locator("#waveform").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 80)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + 80, steps=5)
    page.mouse.up()
    page.keyboard.type("What's the weather like in ")

    assert below_the_fold(page) == []
    page.screenshot(path=str(shoot(page, request.node.name, "viewport")))
    page.watch.assert_clean()


def test_the_lease_warning_does_not_move_the_waveform(page, reviewer, demo_clip, settings):
    check = expect()
    page.set_viewport_size({"width": 1280, "height": 800})
    # The warning comes 90 s before the end: about two seconds after this lease starts.
    settings.REVIEWSVC_LEASE_SECONDS = 92
    demo_clip("de-DE-1", subject_id="subject-d")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-audio", "ready")
    check(page.locator("#warning")).to_be_hidden()
    before = page.locator("#waveform").bounding_box()

    check(page.locator("#warning")).to_be_visible(timeout=6000)

    assert page.locator("#waveform").bounding_box() == before
    assert below_the_fold(page) == []


def axe_violations(page) -> list[str]:
    return page.evaluate(AXE_RUN)


def test_axe_core_finds_no_serious_or_critical_violation_on_the_workbench(page, reviewer, demo_clip, settings):
    check = expect()
    page.add_init_script(path=str(AXE))
    settings.REVIEWSVC_LEASE_SECONDS = 92
    demo_clip("fr-FR-2", subject_id="subject-e")
    open_workbench(page, reviewer())
    check(page.locator("#workbench")).to_have_attribute("data-waveform", "drawn")
    page.keyboard.type("Bonjour")
    check(page.locator("#warning")).to_be_visible(timeout=6000)
    assert axe_violations(page) == []

    page.keyboard.press("Alt+Slash")
    check(page.locator("#shortcut-sheet")).to_be_visible()
    assert axe_violations(page) == []
    page.keyboard.press("Escape")

    settings.REVIEWSVC_LEASE_SECONDS = 600
    page.keyboard.press("Alt+KeyR")
    check(page.locator("#workbench")).to_have_attribute("data-state", "released")
    assert axe_violations(page) == []

    page.goto("/login/")
    assert axe_violations(page) == []


def test_the_front_door_and_the_api_docs_work_with_no_request_elsewhere(page):
    check = expect()
    page.goto("/")
    page.wait_for_url("**/login/")

    page.goto("/api/docs/")

    check(page.locator(".swagger-ui .info .title")).to_contain_text("reviewsvc API", timeout=15000)
    check(page.locator(".opblock-tag-section").first).to_be_visible()
    page.watch.assert_clean()
