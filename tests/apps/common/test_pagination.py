"""A pagination cursor is client input: a tampered one is 400 on every paginated endpoint."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.django_db

PAGINATED = ["/api/v1/audit/events", "/api/v1/subjects/subject-1/access-log"]


def cursor(querystring: str) -> str:
    return base64.b64encode(querystring.encode()).decode()


@pytest.fixture
def clients(auditor_client, service_client):
    return {PAGINATED[0]: auditor_client, PAGINATED[1]: service_client}


@pytest.mark.parametrize("url", PAGINATED)
@pytest.mark.parametrize(
    "tampered",
    [
        cursor("p=abc"),
        cursor("p=1.5"),
        cursor("p=" + "9" * 40),
        cursor("o=-1"),
        cursor("r=x"),
        "not base64!",
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_tampered_cursor_is_a_validation_error(clients, url, tampered):
    response = clients[url].get(url, {"cursor": tampered})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert "cursor" in response.json()["error"]["fields"]


@pytest.mark.parametrize("url", PAGINATED)
def test_a_genuine_cursor_still_pages(clients, url):
    response = clients[url].get(url, {"cursor": cursor("p=5")})

    assert response.status_code == 200
    assert response.json()["results"] == [] or url == PAGINATED[0]
