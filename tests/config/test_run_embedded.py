"""``make run``'s server on a port of its own: the links it builds and prints use that port."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import free_port

pytestmark = pytest.mark.embedded
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded(tmp_path):
    """bin/run-embedded on a free port with its own var/; yields (port, the lines it printed)."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REVIEWSVC_SITE_URL", "REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env |= {"REVIEWSVC_VAR_DIR": str(tmp_path), "HOST": "127.0.0.1", "PORT": str(port)}
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        ["bin/run-embedded"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(line.startswith("Workbench:") for line in lines):
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        yield port, lines
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def get(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    return conn.getresponse()


def test_the_embedded_server_builds_its_links_on_the_port_it_started_on_and_prints_them_last(embedded):
    port, lines = embedded
    site = f"http://127.0.0.1:{port}"

    docs, invite, workbench = lines[-3:]
    assert docs == f"API docs:  {site}/api/docs/"
    assert invite.startswith(f"Invite:    {site}/invite/")
    assert workbench == f"Workbench: {site}/review/"
    assert any("Ctrl+C" in line for line in lines)

    front = get(port, "/")
    assert (front.status, front.getheader("Location")) == (302, "/login/")
    assert get(port, "/api/docs/").status == 200
