"""The workbench's first load, measured in real headless Chromium against the shipped server on 127.0.0.1.

A seeded SQLite database in a temporary folder, the spoken demo clips, one enrolled reviewer
(invite, password, TOTP: the real API). Each run opens /review/ in a fresh browser context (cold
HTTP cache, the same session) and reads the browser's own Performance timings.

Targets (issue 6): static assets of the first load under 300 KB; interactive in under 1 s.
"Interactive" is DOMContentLoaded: the deferred script has run and the keyboard works. The time
until the first clip is playable (lease, audio fetched, player ready) is reported beside it.
Baseline, same run and browser: navigating to /healthz (a 16-byte JSON answer).

Then what an open workbench costs the server: it asks for its lease's state every 750 ms (an
opt-out is heard within a second) with a plain GET, never a held connection, so a worker running
one request at a time is never tied up. Measured: the status endpoint's throughput on the 2
workers (baseline /healthz, same load), the polls one open workbench sends, and the workers' CPU
time over a window with one open workbench against the same window with none.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds_of_trees, free_port, manage, percentile, run_load, shipped, table  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PORT = int(os.environ.get("BENCH_BROWSER_PORT") or free_port())
RUNS = int(os.environ.get("BENCH_BROWSER_RUNS", "7"))
ROOT = Path(__file__).resolve().parent.parent
EMAIL = "bench-reviewer@example.org"
PASSWORD = "bench password that is long enough 7"
TARGET_STATIC_BYTES = 300 * 1024
TARGET_INTERACTIVE_MS = 1000.0
POLL_WINDOW_S = float(os.environ.get("BENCH_BROWSER_POLL_WINDOW", "20"))
STATUS_REQUESTS = int(os.environ.get("BENCH_BROWSER_STATUS_REQUESTS", "2000"))

TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const size = (e) => e.transferSize || e.encodedBodySize || 0;
  const resources = performance.getEntriesByType("resource");
  const isStatic = (e) => new URL(e.name).pathname.startsWith("/static/");
  const ready = performance.getEntriesByName("workbench:clip-ready")[0];
  return {
    document: size(nav),
    static: resources.filter(isStatic).reduce((sum, e) => sum + size(e), 0),
    staticDecoded: resources.filter(isStatic).reduce((sum, e) => sum + e.decodedBodySize, 0),
    staticFiles: resources.filter(isStatic).map((e) => new URL(e.name).pathname),
    other: resources.filter((e) => !isStatic(e)).map((e) => new URL(e.name).pathname),
    interactive: nav.domInteractive,
    dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    ready: ready ? ready.startTime : null,
  };
}"""


def bench_env(var_dir: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "REVIEWSVC_VAR_DIR": var_dir,
        "DATABASE_URL": f"sqlite:///{var_dir}/bench.sqlite3",
        "REVIEWSVC_SITE_URL": f"http://127.0.0.1:{PORT}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    return env


class Session:
    """A cookie jar over http.client: the API's CSRF rule holds for anonymous calls too."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.request("GET", "/api/v1/auth/login")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers |= {"Content-Type": "application/json", "X-CSRFToken": self.cookies.get("csrftoken", "")}
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        cookie_lines = ", ".join(response.headers.get_all("Set-Cookie") or [])
        self.cookies.update(re.findall(r"(csrftoken|sessionid)=([^;]*)", cookie_lines))
        ok_json = raw and response.headers.get("Content-Type", "").startswith("application/json")
        return response.status, json.loads(raw) if ok_json else {}


def totp_now(secret_b32: str, drift: int = 0) -> str:
    from django_otp.oath import totp

    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return f"{totp(key, drift=drift):06d}"


def enrol_and_login(invite_url: str) -> list[dict]:
    """Accept the invite, confirm the authenticator, log in: the real API, as a browser would.

    Returns the session's cookies; every measured run reuses this one session.
    """
    token = urlsplit(invite_url).fragment
    session = Session()
    status, body = session.request("POST", "/api/v1/invites/accept", {"token": token, "password": PASSWORD})
    if status != 200:
        raise SystemExit(f"invite accept answered {status}: {body}")
    secret = parse_qs(urlsplit(body["otpauth_uri"]).query)["secret"][0]
    status, body = session.request("POST", "/api/v1/invites/confirm", {"token": token, "otp": totp_now(secret)})
    if status != 200:
        raise SystemExit(f"invite confirm answered {status}: {body}")
    # The confirm step spent this 30-second step's code; the next step's is accepted, once.
    status, body = session.request(
        "POST", "/api/v1/auth/login", {"username": EMAIL, "password": PASSWORD, "otp": totp_now(secret, drift=1)}
    )
    if status != 200:
        raise SystemExit(f"login answered {status}: {body}")
    return [{"name": n, "value": v, "domain": "127.0.0.1", "path": "/"} for n, v in session.cookies.items() if v]


def measure(cookies: list[dict]) -> tuple[list[dict], list[float]]:
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{PORT}"
    runs: list[dict] = []
    baseline: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        # One warm-up load so that the server's workers and SQLite's page cache are not what we measure.
        for index in range(RUNS + 1):
            context = browser.new_context(base_url=base)
            context.add_cookies(cookies)
            page = context.new_page()
            page.goto("/healthz", wait_until="load")
            health = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
            page.goto("/review/", wait_until="load")
            page.wait_for_selector('#workbench[data-audio="ready"]', timeout=15000)
            timings = page.evaluate(TIMINGS_JS)
            context.close()
            if index:
                runs.append(timings)
                baseline.append(health)
        browser.close()
    return runs, baseline


def cookie_header(cookies: list[dict]) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in cookies)


def current_assignment(cookies: list[dict]) -> str:
    csrf = next(c["value"] for c in cookies if c["name"] == "csrftoken")
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request("POST", "/api/v1/review/next", headers={"Cookie": cookie_header(cookies), "X-CSRFToken": csrf})
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"next answered {response.status}: {body}")
    return body["assignment"]


def load_of(path: str, cookies: list[dict]) -> tuple[float, float, int]:
    """(requests/s, median ms, failures) of STATUS_REQUESTS GETs of ``path`` from 4 keep-alive clients."""
    headers = {"Cookie": cookie_header(cookies), "X-Background-Poll": "1", "Accept": "application/json"}

    def one(conn: http.client.HTTPConnection) -> bool:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status == 200

    rate, latencies, failures = run_load(port=PORT, requests=STATUS_REQUESTS, concurrency=4, make_request=one)
    return rate, percentile(latencies, 50) * 1000, failures


def poll_cost(server_pid: int, cookies: list[dict]) -> dict[str, float]:
    """Server CPU over POLL_WINDOW_S with no page open, then with one open workbench."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        server = {"server": [server_pid]}
        before = cpu_seconds_of_trees(server)["server"]
        time.sleep(POLL_WINDOW_S)
        idle = cpu_seconds_of_trees(server)["server"] - before
        context = browser.new_context(base_url=f"http://127.0.0.1:{PORT}")
        context.add_cookies(cookies)
        page = context.new_page()
        polls: list[str] = []
        page.on("request", lambda r: r.method == "GET" and "/review/assignments/" in r.url and polls.append(r.url))
        page.goto("/review/", wait_until="load")
        page.wait_for_selector('#workbench[data-audio="ready"]', timeout=15000)
        polls.clear()
        before = cpu_seconds_of_trees(server)["server"]
        page.wait_for_timeout(POLL_WINDOW_S * 1000)
        busy = cpu_seconds_of_trees(server)["server"] - before
        count = len(polls)
        context.close()
        browser.close()
    return {
        "idle_ms_per_s": idle / POLL_WINDOW_S * 1000,
        "open_ms_per_s": busy / POLL_WINDOW_S * 1000,
        "polls_per_s": count / POLL_WINDOW_S,
    }


def seed_and_measure(env: dict[str, str]) -> tuple[list[dict], list[float], dict[str, float]]:
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manage(env, "create_facility", "Bench room", "--country", "DE", "--network", "127.0.0.0/8", "--region", "EU")
    invite_url = manage(
        env,
        "invite_reviewer",
        EMAIL,
        "--facility",
        "Bench room",
        "--language",
        "en-US",
        "--language",
        "de-DE",
        "--language",
        "fr-FR",
        "--vetted-until",
        (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
    ).split()[-1]
    manage(env, "seed_demo")
    with shipped(env, port=PORT) as server:
        cookies = enrol_and_login(invite_url)
        runs, baseline = measure(cookies)
        assignment = current_assignment(cookies)
        status_rate, status_ms, status_failures = load_of(f"/api/v1/review/assignments/{assignment}", cookies)
        health_rate, health_ms, _ = load_of("/healthz", cookies)
        cost = poll_cost(server.pid, cookies)
    cost |= {
        "status_rate": status_rate,
        "status_ms": status_ms,
        "status_failures": status_failures,
        "health_rate": health_rate,
        "health_ms": health_ms,
    }
    return runs, baseline, cost


def main() -> int:
    if not CHROMIUM.exists():
        print(f"skipped: needs Chromium at {CHROMIUM}")
        return 0
    with tempfile.TemporaryDirectory(prefix="reviewsvc-bench-browser-") as var_dir:
        runs, baseline, cost = seed_and_measure(bench_env(var_dir))

    static_kb = statistics.median(r["static"] for r in runs) / 1024
    static_raw_kb = statistics.median(r["staticDecoded"] for r in runs) / 1024
    document_kb = statistics.median(r["document"] for r in runs) / 1024
    dcl = statistics.median(r["dcl"] for r in runs)
    interactive = statistics.median(r["interactive"] for r in runs)
    load = statistics.median(r["load"] for r in runs)
    ready = statistics.median(r["ready"] for r in runs)
    health = statistics.median(baseline)
    print(f"{RUNS} cold loads of /review/ (fresh context each), medians; static files: {runs[0]['staticFiles']}")
    print(f"other requests of the page: {runs[0]['other']}")
    print(
        table(
            [
                ("static assets, as sent (KB)", f"{static_kb:.1f}", "-", "300", f"{static_kb / 300:.2f}"),
                ("static assets, uncompressed (KB)", f"{static_raw_kb:.1f}", "-", "300", f"{static_raw_kb / 300:.2f}"),
                (
                    "static + document (KB)",
                    f"{static_kb + document_kb:.1f}",
                    "-",
                    "300",
                    f"{(static_kb + document_kb) / 300:.2f}",
                ),
                ("DOM interactive (ms)", f"{interactive:.0f}", f"{health:.0f}", "1000", f"{interactive / 1000:.2f}"),
                ("interactive: DOMContentLoaded (ms)", f"{dcl:.0f}", f"{health:.0f}", "1000", f"{dcl / 1000:.2f}"),
                ("load event (ms)", f"{load:.0f}", f"{health:.0f}", "-", "-"),
                ("first clip playable (ms)", f"{ready:.0f}", f"{health:.0f}", "1000", f"{ready / 1000:.2f}"),
            ],
            ("measure", "workbench", "baseline /healthz", "target", "ratio to target"),
        )
    )
    per_workbench = max(0.0, cost["open_ms_per_s"] - cost["idle_ms_per_s"])
    print(
        f"\nWhat one open workbench costs: {STATUS_REQUESTS} status GETs from 4 clients; CPU over {POLL_WINDOW_S:.0f} s"
    )
    print(
        table(
            [
                (
                    "status GET throughput, 2 sync workers (req/s)",
                    f"{cost['status_rate']:.0f}",
                    f"/healthz {cost['health_rate']:.0f}",
                ),
                ("status GET median latency (ms)", f"{cost['status_ms']:.1f}", f"/healthz {cost['health_ms']:.1f}"),
                ("status GET failures", str(cost["status_failures"]), "-"),
                ("polls sent by one open workbench (per s)", f"{cost['polls_per_s']:.2f}", "-"),
                (
                    "server CPU with one open workbench (ms per s)",
                    f"{cost['open_ms_per_s']:.1f}",
                    f"no page open {cost['idle_ms_per_s']:.1f}",
                ),
                ("server CPU per open workbench (ms per s)", f"{per_workbench:.1f}", "-"),
                (
                    "open workbenches per core of server CPU",
                    f"{1000 / max(per_workbench, 0.1):.0f}",
                    "-",
                ),
                (
                    "open workbenches the measured throughput serves",
                    f"{cost['status_rate'] / max(cost['polls_per_s'], 0.01):.0f}",
                    "-",
                ),
            ],
            ("measure", "workbench", "baseline"),
        )
    )
    ok = static_raw_kb * 1024 <= TARGET_STATIC_BYTES and dcl <= TARGET_INTERACTIVE_MS
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
