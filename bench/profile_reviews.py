"""Where the reviewer's milliseconds go: next, audio and submit profiled in one process.

The same setup as bench_reviews (PostgreSQL when available, a reviewer enrolled through the
services, an OTP-verified session), then ``BENCH_PROFILE_LOOPS`` (200) loops of next -> whole
audio -> submit through Django's full handler (every middleware, the real session cookie),
unprofiled for the wall time of each query and of the rest, then as many under cProfile. Prints,
per endpoint, the milliseconds of a request by where they went, the queries per request, and the
share of the profiled Python time spent in each layer (own time of the functions in it).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_reviews import (  # noqa: E402
    CLIP_BYTES,
    django_setup,
    facility_make,
    queue_clips,
    reviewer_enrol,
    session_headers,
    wav_of_size,
)
from bench.common import bench_env, manage, table  # noqa: E402

LOOPS = int(os.environ.get("BENCH_PROFILE_LOOPS", "200"))
# Layers by where a function is defined, the first match wins.
LAYERS = (
    ("database driver and wire", ("psycopg", "sqlite3", "socket")),
    ("ORM: building and compiling queries, making rows", ("django/db/",)),
    ("audio decryption and key unwrap", ("reviewsvc/crypto", "cryptography", "apps/clips/audio", "apps/keys")),
    ("access log append (apps.audit)", ("apps/audit",)),
    ("sessions, auth, OTP", ("django/contrib/sessions", "django/contrib/auth", "django_otp", "signing")),
    ("DRF: request, negotiation, renderers, serializers", ("rest_framework",)),
    ("app code (apps/, reviewsvc/)", ("apps/", "reviewsvc/")),
    ("Django handler, middleware, HTTP", ("django/",)),
)


# What a query is for, by the first table or function it names.
PURPOSES = (
    ("who is asking: the session with its user, reviewer, facility and device", "accounts_accountsession"),
    ("who is asking: user", "auth_user"),
    ("who is asking: OTP device", "otp"),
    ("who is asking: reviewer + facility", "accounts_reviewer"),
    ("access log append", "audit_"),
    ("transaction (savepoint, commit)", "SAVEPOINT"),
)


TABLE = re.compile(r'^(\w+)\b.*?(?:FROM|INTO|UPDATE) "?(\w+)', re.DOTALL)


def query_purpose(sql: str) -> str:
    head = sql[:200]
    for purpose, needle in PURPOSES:
        if needle in head:
            return purpose
    statement = TABLE.search(head)
    return f"{statement.group(1)} {statement.group(2)}" if statement else head[:40]


def layer_of(filename: str) -> str:
    for name, needles in LAYERS:
        if any(needle in filename for needle in needles):
            return name
    return "other (stdlib, json, uuid, ...)"


def main() -> None:
    env = bench_env(settings_module="bench.reviews_settings", database="bench_profile")
    env.update({"REVIEWSVC_LEASES_PER_HOUR": "100000000", "REVIEWSVC_AUDIO_REQUESTS_PER_HOUR": "100000000"})
    manage(env, "migrate", "--noinput")
    django_setup(env)
    from django.db import connection
    from django.test import Client

    facility_make()
    user, device = reviewer_enrol("profile@bench.example", ["de-DE"])
    queue_clips(2 * LOOPS + 10, wav_of_size(CLIP_BYTES))
    headers = session_headers(user, device)
    client = Client(headers={"Host": "127.0.0.1", **headers})

    profiles = {name: cProfile.Profile() for name in ("next", "audio", "submit")}
    elapsed: dict[str, float] = defaultdict(float)
    queries: dict[str, int] = defaultdict(int)
    # Unprofiled: wall time of each query by what it is for (the profiler's overhead would
    # inflate the Python side only).
    query_seconds: dict[tuple[str, str], float] = defaultdict(float)
    current = {"name": "", "profile": False}

    def count(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if not current["profile"]:
                query_seconds[current["name"], query_purpose(sql)] += time.perf_counter() - started
                queries[current["name"]] += 1

    def timed(name: str, call):
        current["name"] = name
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            response = profiles[name].runcall(call) if current["profile"] else call()
        if not current["profile"]:
            elapsed[name] += time.perf_counter() - started
        return response

    for index in range(2 * LOOPS + 5):
        if index == 5:  # warm-up done: measure from here
            elapsed.clear()
            queries.clear()
            query_seconds.clear()
        # The first LOOPS measured loops unprofiled, the next LOOPS profiled.
        current["profile"] = index >= LOOPS + 5
        lease = json.loads(timed("next", lambda: client.post("/api/v1/review/next")).content)
        audio = timed("audio", lambda lease=lease: b"".join(client.get(lease["audio_url"]).streaming_content))
        assert len(audio) == CLIP_BYTES
        path = f"/api/v1/review/assignments/{lease['assignment']}/transcript"
        body = json.dumps({"text": "bench transcript", "flags": []})
        response = timed("submit", lambda path=path, body=body: client.post(path, body, "application/json"))
        assert response.status_code == 201, response.content

    database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(f"{LOOPS} loops in one process, {database}, Django test client through every middleware\n")
    for name, profile in profiles.items():
        per_request_ms = elapsed[name] / LOOPS * 1000
        in_queries = {purpose: seconds for (of, purpose), seconds in query_seconds.items() if of == name}
        python_ms = per_request_ms - sum(in_queries.values()) / LOOPS * 1000
        print(f"{name}: {per_request_ms:.2f} ms a request (unprofiled), {queries[name] / LOOPS:.1f} queries")
        rows = [
            (f"query: {purpose}", f"{seconds / LOOPS * 1000:.2f}")
            for purpose, seconds in sorted(in_queries.items(), key=lambda item: -item[1])
        ]
        rows.append(("Python outside the queries", f"{python_ms:.2f}"))
        print(table(rows, ("wall time, where", "ms")))
        stats = pstats.Stats(profile)
        own: dict[str, float] = defaultdict(float)
        for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            own[layer_of(filename)] += tottime
        total = sum(own.values())
        rows = [(layer, f"{seconds / total:.0%}") for layer, seconds in sorted(own.items(), key=lambda item: -item[1])]
        print(table(rows, ("profiled: own time by layer", "share")))
        print()


if __name__ == "__main__":
    main()
