"""Opt-out and deletion of a subject with 100 k clips, on PostgreSQL (database ``bench_privacy``).

Clip rows are bulk-inserted directly (COPY): the figure is the opt-out or deletion, not ingest.
Each measurement runs on a subject of its own with the same number of queued clips, among all the
other subjects' rows, so every statement works on an index of realistic size.

- opt-out through the service (``subject_opt_out``: subject lock, row locks on the withdrawn
  clips, lease revocation, crypto-shred, one aggregate event) and through HTTP under the shipped server
  (``PUT /api/v1/subjects/{id}/opt-out``, until the response arrives). Target: < 2 s.
- deletion through the service and through HTTP (``DELETE /api/v1/subjects/{id}/clips``), in clips/s.
- baseline, same run: the bare ``UPDATE`` that a withdrawal or deletion needs at the least (status
  and key columns of the same number of rows, no locks, no event, no digest).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, free_port, manage, shipped, table  # noqa: E402

CLIPS = int(os.environ.get("BENCH_PRIVACY_CLIPS", "100000"))
PORT = free_port()
SUBJECTS = ("base-optout", "svc-optout", "http-optout", "base-delete", "svc-delete", "http-delete")
TARGET_SECONDS = 2.0


def copy_clips(connection, subject_ids: tuple[str, ...], per_subject: int) -> None:
    """Queued clip rows with a (random, never used) wrapped key each, the way ingest leaves them."""
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO clips_subject (subject_id, opted_out, created_at) VALUES (%s, false, %s)",
            [(subject, now) for subject in subject_ids],
        )
        columns = (
            "id, subject_id, language, region, activation, duration_ms, audio_format, mime_type, size_bytes, "
            "blob_name, wrapped_key, key_version, status, created_at, status_changed_at"
        )
        with cursor.cursor.copy(f"COPY clips_clip ({columns}) FROM STDIN") as copy:
            for subject in subject_ids:
                for _ in range(per_subject):
                    copy.write_row(
                        (
                            uuid.uuid4(),
                            subject,
                            "de-DE",
                            "EU",
                            "deliberate",
                            3000,
                            "wav",
                            "audio/wav",
                            96044,
                            "",
                            os.urandom(64),
                            1,
                            "queued",
                            now,
                            now,
                        )
                    )
    # Steady state before measuring: hint bits set and statistics fresh (VACUUM), and the load's
    # WAL checkpointed, so no measurement pays for the bulk load's aftermath.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) clips_clip")
        cursor.execute("CHECKPOINT")


def bare_update(connection, subject: str, status: str) -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE clips_clip SET status = %s, wrapped_key = NULL, key_version = NULL, status_changed_at = now() "
            "WHERE subject_id = %s AND status IN ('queued', 'assigned')",
            [status, subject],
        )
        assert cursor.rowcount == CLIPS
    return time.perf_counter() - started


def http_call(method: str, path: str, key: str) -> tuple[float, int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    # Warm the keep-alive connection and the worker first: measure the call, not the handshake.
    conn.request("GET", "/healthz")
    conn.getresponse().read()
    started = time.perf_counter()
    conn.request(method, path, headers={"Authorization": f"Api-Key {key}"})
    response = conn.getresponse()
    body = response.read()
    return time.perf_counter() - started, response.status, body


def main() -> None:
    env = bench_env(settings_module="config.settings.local", database="bench_privacy")
    if not env["DATABASE_URL"].startswith("postgres"):
        print("bench_privacy needs PostgreSQL (local server on 127.0.0.1); skipped")
        return
    manage(env, "migrate", "--noinput")
    key = manage(env, "create_api_key", "bench-privacy", "--scope", "subjects:manage").split()[-1]
    # The embedded broker's folder: the shred's blob sweep is queued there, as in production.
    Path(env["REVIEWSVC_VAR_DIR"], "broker").mkdir(mode=0o700, exist_ok=True)
    os.environ.update(env)

    import django

    django.setup()
    from django.db import connection

    from apps.common.context import RequestContext
    from apps.privacy.services import subject_clips_delete, subject_opt_out

    started = time.perf_counter()
    copy_clips(connection, SUBJECTS, CLIPS)
    loaded = time.perf_counter() - started
    print(f"{len(SUBJECTS)} subjects x {CLIPS:,} queued clips loaded by COPY in {loaded:.1f} s; PostgreSQL")
    context = RequestContext.system("bench")

    base_optout = bare_update(connection, "base-optout", "withdrawn")
    started = time.perf_counter()
    withdrawn = subject_opt_out(subject_id="svc-optout", context=context)
    svc_optout = time.perf_counter() - started
    assert withdrawn == CLIPS, withdrawn

    base_delete = bare_update(connection, "base-delete", "deleted")
    started = time.perf_counter()
    deleted = subject_clips_delete(subject_id="svc-delete", context=context)
    svc_delete = time.perf_counter() - started
    assert deleted == CLIPS, deleted
    connection.close()

    with shipped(env, port=PORT):
        http_optout, status, body = http_call("PUT", "/api/v1/subjects/http-optout/opt-out", key)
        assert status == 200, body
        assert json.loads(body)["withdrawn"] == CLIPS, body
        http_delete, status, body = http_call("DELETE", "/api/v1/subjects/http-delete/clips", key)
        assert status == 200, body
        assert json.loads(body)["deleted"] == CLIPS, body

    def verdict(seconds: float) -> str:
        return f"{'meets' if seconds < TARGET_SECONDS else 'MISSES'} < {TARGET_SECONDS:.0f} s"

    rows = [
        ("opt-out baseline: bare UPDATE", f"{base_optout:.2f}", f"{CLIPS / base_optout:,.0f}", "1.00x", ""),
        (
            "opt-out: service",
            f"{svc_optout:.2f}",
            f"{CLIPS / svc_optout:,.0f}",
            f"{base_optout / svc_optout:.2f}x",
            verdict(svc_optout),
        ),
        (
            "opt-out: HTTP PUT, shipped server",
            f"{http_optout:.2f}",
            f"{CLIPS / http_optout:,.0f}",
            f"{base_optout / http_optout:.2f}x",
            verdict(http_optout),
        ),
        ("deletion baseline: bare UPDATE", f"{base_delete:.2f}", f"{CLIPS / base_delete:,.0f}", "1.00x", ""),
        (
            "deletion: service",
            f"{svc_delete:.2f}",
            f"{CLIPS / svc_delete:,.0f}",
            f"{base_delete / svc_delete:.2f}x",
            "",
        ),
        (
            "deletion: HTTP DELETE, shipped server",
            f"{http_delete:.2f}",
            f"{CLIPS / http_delete:,.0f}",
            f"{base_delete / http_delete:.2f}x",
            "",
        ),
    ]
    print(table(rows, ("operation", "seconds", "clips/s", "vs baseline", "target")))


if __name__ == "__main__":
    main()
