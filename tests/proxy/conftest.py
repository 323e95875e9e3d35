"""A real nginx in front of the shipped server: TLS with client certificates from a CA made here.

Started once per session (``proxy``): Debian's nginx on a free 127.0.0.1 port with
``ssl_verify_client on``, the repository's ``deploy/nginx/reviewsvc-proxy.conf`` included as
shipped, connecting to the server (``config/server.py``) from 127.0.0.2 (``proxy_bind``), the
only trusted proxy. A test client connects from 127.0.0.1, so a request sent straight to the
server comes from an untrusted peer. The server is another process, so it needs the tests'
PostgreSQL database (on SQLite it would not see the tests' data), shares the test process's var/
and has keys of its own, which the tests use too (the key file, or a label prefix in the run's
token).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.certs import CertificateAuthority, Issued
from tests.softhsm import server_keys, use_server_keys
from tests.support import free_port, shipped_server

ROOT = Path(__file__).resolve().parents[2]
PROXY_SNIPPET = ROOT / "deploy" / "nginx" / "reviewsvc-proxy.conf"
PROXY_BIND = "127.0.0.2"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def wait_for(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up")


NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        ssl_client_certificate {tmp}/ca.pem;
        ssl_verify_client on;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_bind {bind};
            include {snippet};
        }}
    }}
}}
"""


@dataclass
class Response:
    status: int
    body: dict
    cookies: dict[str, str]


@dataclass
class Client:
    """One browser-like client: its own cookies, optionally its own certificate."""

    stack: ProxyStack
    cert: Issued | None = None
    direct: bool = False  # straight to the server, bypassing the proxy
    cookies: dict[str, str] = field(default_factory=dict)

    def _connection(self) -> http.client.HTTPConnection:
        if self.direct:
            return http.client.HTTPConnection("127.0.0.1", self.stack.upstream_port, timeout=15)
        context = ssl.create_default_context(cafile=str(self.stack.tmp / "ca.pem"))
        if self.cert is not None:
            cert_file, key_file = self.cert.write(self.stack.tmp, f"client-{id(self.cert)}")
            context.load_cert_chain(str(cert_file), str(key_file))
        return http.client.HTTPSConnection(
            "127.0.0.1", self.stack.port, context=context, timeout=15, source_address=("127.0.0.1", 0)
        )

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> Response:
        connection = self._connection()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "csrftoken" in self.cookies:
            sent["X-CSRFToken"] = self.cookies["csrftoken"]
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:200].decode("latin-1")}
        return Response(status=response.status, body=parsed, cookies=dict(self.cookies))

    def login(self, username: str, password: str, otp: str, headers: dict | None = None) -> Response:
        self.call("GET", "/api/v1/auth/login")
        return self.call(
            "POST", "/api/v1/auth/login", {"username": username, "password": password, "otp": otp}, headers
        )


@dataclass
class ProxyStack:
    tmp: Path
    port: int
    upstream_port: int
    ca: CertificateAuthority
    keys: dict[str, str]  # what the server was given: the key file, or the token and a label prefix

    def client(self, cert: Issued | None = None, *, direct: bool = False) -> Client:
        return Client(stack=self, cert=cert, direct=direct)


@pytest.fixture(scope="session")
def proxy(request, django_db_setup, django_db_blocker, tmp_path_factory):
    if NGINX is None:
        pytest.skip("needs nginx (Debian package 'nginx'; .ci/run installs it)")
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the server is another process and must see the tests' data")
    tmp = tmp_path_factory.mktemp("proxy")
    tmp.chmod(0o755)  # nginx's workers (not root) write their temp files here
    ca = CertificateAuthority()
    (tmp / "ca.pem").write_bytes(ca.pem)
    ca.issue("127.0.0.1", server=True).write(tmp, "server")
    port, upstream_port = free_port(), free_port()
    # The servers start before any test's keys exist: they get keys of their own, which the
    # tests share (_shared_keys).
    with server_keys(request, tmp / "keys" / "master-keys.json") as keys:
        database = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
            "REVIEWSVC_VAR_DIR": str(settings.VAR_DIR),
            **keys,
            "REVIEWSVC_TRUSTED_PROXIES": f"{PROXY_BIND}/32",
        }
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        (tmp / "nginx.conf").write_text(
            NGINX_CONF.format(
                tmp=tmp, port=port, upstream=upstream_port, bind=PROXY_BIND, snippet=PROXY_SNIPPET, user=user
            )
        )
        with shipped_server(env, port=upstream_port):
            nginx = subprocess.Popen(  # noqa: S603
                [NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "nginx.stderr").open("wb"),
            )
            try:
                wait_for(
                    lambda: nginx.poll() is None and socket.create_connection(("127.0.0.1", port), 1).close() is None,
                    "nginx",
                )
                yield ProxyStack(tmp=tmp, port=port, upstream_port=upstream_port, ca=ca, keys=keys)
            finally:
                nginx.send_signal(signal.SIGQUIT)
                try:
                    nginx.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    nginx.kill()
                    nginx.wait(timeout=5)


@pytest.fixture(autouse=True)
def _shared_keys(request, settings):
    """The tests and the server seal and MAC with the same keys (the suite's default is per test)."""
    if "proxy" in request.fixturenames:
        use_server_keys(settings, request.getfixturevalue("proxy").keys)
