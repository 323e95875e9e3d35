"""The first five minutes: ``/`` sends each visitor somewhere useful; the API docs need no network."""

from __future__ import annotations

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_front_door_sends_a_visitor_to_the_login_page():
    response = Client().get("/")

    assert (response.status_code, response["Location"]) == (302, "/login/")


def test_the_front_door_sends_a_signed_in_reviewer_to_the_workbench(alice_client):
    response = alice_client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/review/")


def test_the_front_door_sends_staff_to_their_home(admin_client, auditor_client):
    assert admin_client.get("/")["Location"] == "/admin/"
    assert auditor_client.get("/")["Location"] == "/audit/"


def test_the_front_door_treats_a_password_only_session_as_signed_out(password_only_client):
    assert password_only_client.get("/")["Location"] == "/login/"


def test_the_front_door_answers_only_reads():
    assert Client().post("/").status_code == 405


def test_the_api_docs_load_swagger_ui_from_this_origin_with_no_inline_script():
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(src.startswith(("/static/", "data:")) for src in sources), sources
    # Every script is a file: the CSP (script-src 'self') would block inline code.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "style=" not in html
    assert "<style" not in html
    for src in sources:
        if src.startswith("/static/"):
            assert finders.find(src.removeprefix("/static/")), src
    assert "script-src 'self'" in response["Content-Security-Policy"]


def schema() -> dict:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_documents_its_refusals_in_the_one_error_shape():
    document = schema()
    assert document["components"]["schemas"]["Error"]["properties"]["error"]
    for path, method, operation in operations(document):
        errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
        assert errors, f"{method} {path} documents no error answer"
        for code in errors:
            content = operation["responses"][code].get("content", {})
            refs = [media["schema"].get("$ref", "") for media in content.values()]
            assert refs, (method, path, code)
            assert all(ref.endswith("/Error") for ref in refs), (method, path, code)
        if "{" in path:
            assert "404" in errors, (method, path)


def test_reviewer_operations_name_the_refusals_they_can_give():
    document = schema()
    audio = document["paths"]["/api/v1/review/assignments/{assignment_id}/audio"]["get"]["responses"]
    assert {"401", "403", "404", "410", "416", "429"} <= set(audio)
    assert "`outside_facility_network`" in audio["403"]["description"]
    transcript = document["paths"]["/api/v1/review/assignments/{assignment_id}/transcript"]["post"]["responses"]
    assert "`validation_error`" in transcript["400"]["description"]


# The accounts app's views (login, invites) are being reworked on another branch; they get their
# descriptions there.
UNDESCRIBED_FOR_NOW = ("/api/v1/auth/", "/api/v1/invites/")


def test_every_operation_has_a_description():
    missing = [
        f"{method} {path}"
        for path, method, operation in operations(schema())
        if not operation.get("description") and not path.startswith(UNDESCRIBED_FOR_NOW)
    ]
    assert missing == []
