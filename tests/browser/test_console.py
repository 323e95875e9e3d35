"""The auditors' console in real Chromium: sign in, charts to search, a clip's story, export, verify.

axe-core (MPL-2.0, tests/browser/vendor/axe-core/LICENSE) runs in each page through the
DevTools protocol, which the page's CSP does not govern; it is never served by the service.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from django_otp.oath import totp

from tests.browser.conftest import LOOPBACK, PASSWORD, key_of, shoot

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
}"""
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "console-overview.png"


def axe_violations(page) -> list[str]:
    page.evaluate(AXE.read_text())
    return page.evaluate(AXE_RUN)


@pytest.fixture
def auditor(transactional_db, system):
    """An auditor enrolled through the real invite services; returns (email, key)."""
    from apps.accounts.services import invite_accept, invite_confirm, staff_invite

    email = "audrey@example.org"
    _, url = staff_invite(email=email, auditor=True, superuser=False, context=system)
    token = url.rstrip("/").rsplit("/", 1)[-1].lstrip("#")
    enrolment = invite_accept(token=token, password=PASSWORD, client_address=LOOPBACK, context=system)
    key = key_of(enrolment.manual_key)
    invite_confirm(token=token, otp=f"{totp(key):06d}", client_address=LOOPBACK, context=system)
    return email, key


def sign_in(page, email: str, key: bytes) -> None:
    page.goto("/login/")
    page.fill("#username", email)
    page.fill("#password", PASSWORD)
    page.fill("#otp", f"{totp(key, drift=1):06d}")
    page.click("button[type=submit]")


def test_an_auditor_answers_who_heard_a_clip_and_whether_the_log_is_intact(page, auditor, facility, tmp_path):
    from apps.audit.demo import seed_demo_activity

    seed_demo_activity(io.StringIO(), facility_id=facility.pk)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, *auditor)
    page.wait_for_url("**/audit/")
    assert page.locator("svg.chart-columns").count() == 1
    assert page.locator("svg.chart-bars").count() == 3
    assert axe_violations(page) == []
    shot = shoot(page, "console", "overview")
    if os.environ.get("REVIEWSVC_README_SHOTS"):
        # Only when asked: a test run must not rewrite a tracked file.
        shutil.copy(shot, README_SHOT)

    # A bar of "plays per facility" opens the search filtered to that facility's plays.
    page.locator("svg.chart-bars a").first.click()
    page.wait_for_url("**/audit/events/?facility=*")
    assert "action=clip.audio" in page.url
    assert page.locator("table.events tbody tr").count() > 1
    assert page.locator("table.events").bounding_box()["width"] <= 1280
    assert axe_violations(page) == []

    # The first row's clip opens that clip's story: who heard how much of it.
    page.locator("table.events tbody tr td a[href^='/audit/clips/']").first.click()
    page.wait_for_url("**/audit/clips/*/")
    assert page.get_by_text("Who heard it, and how much").is_visible()
    assert page.locator("text=/\\d+ % \\(\\d+ of 96000 bytes\\)/").count() >= 1
    assert axe_violations(page) == []

    # Export the search as CSV with the same filters.
    page.goto("/audit/events/?action=clip.audio")
    with page.expect_download() as download:
        page.click("text=CSV")
    saved = tmp_path / "events.csv"
    download.value.save_as(saved)
    rows = saved.read_text().splitlines()
    assert rows[0].startswith("seq,time,")
    assert all(",clip.audio," in row for row in rows[1:])

    # Verification runs in the background and reports its result on the integrity page.
    page.goto("/audit/integrity/")
    assert axe_violations(page) == []
    page.click("text=Verify the whole log now")
    page.wait_for_url("**/audit/integrity/?run=*")
    page.wait_for_selector("text=Verification passed", timeout=15000)
    for path in ("/audit/alerts/", "/audit/subjects/?subject=nobody", f"/audit/facilities/{facility.pk}/"):
        page.goto(path)
        assert axe_violations(page) == [], path
    page.watch.assert_clean()


def test_a_reviewer_is_refused_the_console(page, reviewer):
    from tests.browser.conftest import api_login

    api_login(page, reviewer())
    response = page.goto("/audit/")
    assert response.status == 403
    assert page.get_by_text("The audit console is not available to you").is_visible()
