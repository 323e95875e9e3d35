"""An invite token reaches no log: the shipped launcher (config/server.py) serves the service, a
client enrols as a browser would, and every log the service wrote (access log, error log with
Django's warnings) is searched."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.softhsm import server_keys
from tests.support import free_port, shipped_server

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    """The service as config/server.py serves it, on its own SQLite database and keys."""
    var = tmp_path_factory.mktemp("invite-logs")
    with server_keys(request, var / "keys.json") as keys:
        yield from _served(var, keys)


def _served(var: Path, keys: dict[str, str]):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REVIEWSVC_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        **keys,
        "REVIEWSVC_STORAGE": str(var / "blobs"),
    }
    env.pop("REDIS_URL", None)

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage("create_facility", "Loopback", "--country", "DE", "--network", "127.0.0.0/8", "--region", "EU")
    output = manage(
        "invite_reviewer",
        "nora@example.org",
        "--facility",
        "Loopback",
        "--language",
        "de-DE",
        "--vetted-until",
        "2099-01-01",
    )
    link = output.strip().splitlines()[-1].split()[-1]
    port = free_port()
    # The launcher writes the access log to standard output, every other log to standard error.
    logs = {"access": var / "access.log", "error": var / "error.log"}
    with (
        open(logs["access"], "wb") as access,
        open(logs["error"], "wb") as errors,
        shipped_server(env, port=port, stdout=access, stderr=errors),
    ):
        yield port, link, logs


def call(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, json.dumps(body) if body is not None else None, headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def test_opening_an_invite_and_enrolling_leaves_the_token_in_no_log(served):
    from django_otp.oath import totp

    port, link, logs = served
    parts = urlsplit(link)
    token = parts.fragment
    assert parts.path == "/invite/"
    assert len(token) == 43

    # What a browser sends for the link: never the fragment. The Referer of the page's calls
    # carries no fragment either.
    page, _ = call(port, "GET", parts.path, headers={"Referer": link.split("#")[0]})
    assert page.status == 200
    csrf = page.getheader("Set-Cookie").split("csrftoken=")[1].split(";")[0]
    headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Cookie": f"csrftoken={csrf}"}
    # A stale link of the old form, and a call that puts the token in a query string.
    assert call(port, "GET", f"/invite/{token}/")[0].status == 404
    assert call(port, "GET", f"/api/v1/auth/session?token={token}")[0].status in {401, 403}
    # A refused call (Django logs a warning for every 4xx): a short password.
    refused, _ = call(port, "POST", "/api/v1/invites/accept", {"token": token, "password": "short"}, headers)
    assert refused.status == 400
    accepted, body = call(
        port, "POST", "/api/v1/invites/accept", {"token": token, "password": "Lantern-orbit-47-quartz"}, headers
    )
    assert accepted.status == 200, body
    key = json.loads(body)["manual_key"]
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    confirmed, body = call(
        port, "POST", "/api/v1/invites/confirm", {"token": token, "otp": f"{totp(secret):06d}"}, headers
    )
    assert confirmed.status == 200, body
    time.sleep(0.5)  # let the worker flush its log lines

    written = {name: path.read_text() for name, path in logs.items()}
    assert "GET /invite/ " in written["access"]
    assert "GET /invite/[redacted]/ " in written["access"]
    assert "Bad Request: /api/v1/invites/accept" in written["error"]
    for name, text in written.items():
        assert token not in text, f"the invite token is in the {name} log"
