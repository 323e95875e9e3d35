"""Identity: login throughput and the cost of the per-request facility check, under the shipped server.

1. Login (password + TOTP in one call, Argon2id as in production) at c=8, against the same run's
   baseline: a bare view that only looks the user up and checks the password (the hash is the
   floor; the ratio shows what OTP, lockout bookkeeping, session and events add).
2. The facility check (reviewer snapshot, ``reviewer_may_act``, network membership) on a trivial
   endpoint, against the same endpoint with only the session + OTP check, interleaved in one
   run. Target: < 1 ms added at p50.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import struct
import sys
import threading
import time
from base64 import b32decode
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, free_port, manage, percentile, run_load, shipped, table  # noqa: E402

USERS = int(os.environ.get("BENCH_IDENTITY_USERS", "48"))
CONCURRENCY = int(os.environ.get("BENCH_IDENTITY_CONCURRENCY", "8"))
PROBES = int(os.environ.get("BENCH_IDENTITY_PROBES", "3000"))
PORT = free_port()
STEP = 30
PASSWORD = "Bench-lantern-orbit-2031"

SETUP = """
from datetime import timedelta
from django.utils import timezone
from apps.accounts.services import reviewer_invite
from apps.common.context import RequestContext
from apps.facilities.services import facility_create
ctx = RequestContext.system("bench")
facility_create(name="Bench", country="DE", networks=["127.0.0.0/8", "::1/128"], regions=["EU"], context=ctx)
for i in range({users}):
    _, url = reviewer_invite(email=f"bench{{i}}@bench.example", facility_name="Bench", languages=["en-US"],
                             vetted_until=timezone.localdate() + timedelta(days=30), context=ctx)
    print(url)
"""


def totp(secret: bytes, step: int) -> str:
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def now_step() -> int:
    return int(time.time()) // STEP


def request(conn, method, path, body=None, headers=None) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read(), response


def csrf_token(conn) -> str:
    _, _, response = request(conn, "GET", "/api/v1/auth/login")
    for header, value in response.getheaders():
        if header.lower() == "set-cookie" and value.startswith("csrftoken="):
            return value.split(";", 1)[0].split("=", 1)[1]
    raise SystemExit("no csrftoken cookie")


def main() -> None:
    env = bench_env(settings_module="bench.identity_settings", database="reviewsvc_bench_identity")
    manage(env, "migrate", "--noinput")
    output = manage(env, "shell", "-c", SETUP.format(users=USERS))
    urls = [word for word in output.split() if "/invite/" in word]
    tokens = [url.split("#", 1)[1] for url in urls]

    with shipped(env, port=PORT):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        csrf = csrf_token(conn)
        json_headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Cookie": f"csrftoken={csrf}"}
        secrets_by_user: dict[str, bytes] = {}
        # The last time step each reviewer's device accepted: a code only works for a later step.
        last_step: dict[str, int] = {}
        step_lock = threading.Lock()

        def next_code(user: str) -> str:
            with step_lock:
                step = max(now_step(), last_step[user] + 1)
                last_step[user] = step
            while step > now_step() + 1:  # beyond the server's one-step tolerance: wait for it
                time.sleep(0.5)
            return totp(secrets_by_user[user], step)

        for i, token in enumerate(tokens):
            status, body, _ = request(
                conn, "POST", "/api/v1/invites/accept", {"token": token, "password": PASSWORD}, json_headers
            )
            if status != 200:
                raise SystemExit(f"accept failed: {status} {body[:200]!r}")
            key = json.loads(body)["manual_key"]
            user = f"bench{i}@bench.example"
            secrets_by_user[user] = b32decode(key + "=" * (-len(key) % 8))
            last_step[user] = now_step() - 2
            status, body, _ = request(
                conn, "POST", "/api/v1/invites/confirm", {"token": token, "otp": next_code(user)}, json_headers
            )
            if status != 200:
                raise SystemExit(f"confirm {i} failed: {status} {body[:200]!r}")

        # Two logins per reviewer; each uses the next step its device has not seen (the current
        # or, within the one-step tolerance, the next one). Starting at a step no confirmation
        # used, no login has to wait for the clock.
        while now_step() <= max(last_step.values()):
            time.sleep(0.5)
        queue = iter([user for _ in range(2) for user in secrets_by_user])
        attempts = 2 * len(secrets_by_user)

        def login(c: http.client.HTTPConnection) -> bool:
            user = next(queue)
            status, _, _ = request(
                c,
                "POST",
                "/api/v1/auth/login",
                {"username": user, "password": PASSWORD, "otp": next_code(user)},
                json_headers,
            )
            return status == 200

        def password_check(c: http.client.HTTPConnection) -> bool:
            status, _, _ = request(
                c,
                "POST",
                "/bench/password",
                {"username": "bench0@bench.example", "password": PASSWORD},
                {"Content-Type": "application/json"},
            )
            return status == 200

        login_rate, login_lat, login_fail = run_load(
            port=PORT, requests=attempts, concurrency=CONCURRENCY, make_request=login
        )
        base_rate, base_lat, base_fail = run_load(
            port=PORT, requests=attempts, concurrency=CONCURRENCY, make_request=password_check
        )

        # One verified reviewer session for the probes.
        status, _, response = request(
            conn,
            "POST",
            "/api/v1/auth/login",
            {"username": "bench0@bench.example", "password": PASSWORD, "otp": next_code("bench0@bench.example")},
            json_headers,
        )
        if status != 200:
            raise SystemExit(f"probe login failed: {status}")
        session = next(
            v.split(";", 1)[0]
            for h, v in response.getheaders()
            if h.lower() == "set-cookie" and v.startswith("sessionid=")
        )
        cookie = {"Cookie": session}

        def probe(path: str):
            def send(c: http.client.HTTPConnection) -> bool:
                status, _, _ = request(c, "GET", path, headers=cookie)
                return status == 200

            return send

        for path in ("/bench/verified", "/bench/reviewer"):
            run_load(port=PORT, requests=100, concurrency=1, make_request=probe(path))
        plain_lat: list[float] = []
        checked_lat: list[float] = []
        plain_fail = checked_fail = 0
        # Interleaved batches, so drift on a shared machine hits both sides alike.
        for _ in range(10):
            _, lat, fail = run_load(
                port=PORT, requests=PROBES // 10, concurrency=1, make_request=probe("/bench/verified")
            )
            plain_lat += lat
            plain_fail += fail
            _, lat, fail = run_load(
                port=PORT, requests=PROBES // 10, concurrency=1, make_request=probe("/bench/reviewer")
            )
            checked_lat += lat
            checked_fail += fail

    database = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
    print(
        f"identity, 2 workers as shipped, {database}, Argon2id (Django defaults), {attempts} logins "
        f"of {USERS} reviewers at c={CONCURRENCY}; probes: {PROBES} requests each at c=1, interleaved"
    )
    ms = 1000.0
    print(
        table(
            [
                (
                    "baseline: user lookup + password check",
                    f"{base_rate:.1f}/s",
                    f"{percentile(base_lat, 50) * ms:.0f}",
                    str(base_fail),
                    "1.00x",
                ),
                (
                    "login: password + TOTP + session + events",
                    f"{login_rate:.1f}/s",
                    f"{percentile(login_lat, 50) * ms:.0f}",
                    str(login_fail),
                    f"{login_rate / base_rate:.2f}x",
                ),
            ],
            ("login path", "rate", "p50 ms", "failed", "ratio"),
        )
    )
    plain50, checked50 = percentile(plain_lat, 50) * ms, percentile(checked_lat, 50) * ms
    print(
        table(
            [
                (
                    "baseline: session + OTP check only",
                    f"{plain50:.2f}",
                    f"{percentile(plain_lat, 90) * ms:.2f}",
                    str(plain_fail),
                    "-",
                ),
                (
                    "with facility check (IsReviewer)",
                    f"{checked50:.2f}",
                    f"{percentile(checked_lat, 90) * ms:.2f}",
                    str(checked_fail),
                    f"{checked50 - plain50:+.2f} ms (target < 1 ms)",
                ),
            ],
            ("trivial authenticated GET", "p50 ms", "p90 ms", "failed", "added at p50"),
        )
    )


if __name__ == "__main__":
    main()
