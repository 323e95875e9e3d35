"""The /review/ page: a shell for verified sessions only, with nothing inline and nothing to download."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_sends_an_anonymous_visitor_to_the_login_page():
    response = Client().get("/review/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/review/"


def test_it_refuses_a_password_only_session(password_only_client):
    response = password_only_client.get("/review/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_serves_the_workbench_to_a_verified_session(alice, alice_client):
    response = alice_client.get("/review/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="workbench"' in html
    assert alice.username in html
    assert "csrftoken" in response.cookies
    assert "no-store" in response["Cache-Control"]
    assert f'maxlength="{settings.REVIEWSVC_TRANSCRIPT_MAX_CHARS}"' in html


def test_its_page_holds_no_inline_script_style_or_handler_and_the_policy_forbids_them(alice_client):
    response = alice_client.get("/review/")

    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"<style", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []


def test_it_offers_no_way_to_download_the_audio(alice_client):
    html = alice_client.get("/review/").content.decode()

    audio = re.search(r"<audio[^>]*>", html).group(0)
    assert 'controlslist="nodownload' in audio
    assert " controls" not in audio.replace("controlslist", "")
    assert "download=" not in html
    assert re.findall(r"href=\"[^\"]*audio", html) == []


def test_it_refuses_other_methods(alice_client):
    response = alice_client.post("/review/")

    assert response.status_code == 405


def test_its_flags_are_exactly_the_ones_the_transcript_service_accepts(alice_client):
    from apps.reviews.services import FLAG_LABELS, FLAGS

    html = alice_client.get("/review/").content.decode()

    offered = re.findall(r'<input type="checkbox" name="flags" value="([^"]+)">', html)
    assert offered == list(FLAGS)
    assert set(FLAG_LABELS) == set(FLAGS)
    assert all(label in html for label in FLAG_LABELS.values())


def test_every_page_script_reads_the_csrf_cookie_through_the_one_shared_module(alice_client):
    static = settings.BASE_DIR / "static"
    readers = sorted(
        str(path.relative_to(static)) for path in static.rglob("*.js") if "document.cookie" in path.read_text()
    )
    html = alice_client.get("/review/").content.decode()

    assert readers == ["common/csrf.js"]
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts[0].endswith("/common/csrf.js")
    assert len(scripts) == 2
