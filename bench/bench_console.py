"""Auditors' console at scale: the overview and a filtered search over 1,000,000 events.

Needs PostgreSQL (BENCH_PG_ADMIN, default the local server); creates `reviewsvc_bench_console`.

1,000,000 events over 30 days (10,000 clips, 200 reviewers, 10 facilities, 5 % denied) are
loaded with one INSERT … SELECT (the console reads them, it does not check the chain), then
``event_counts_catch_up`` builds the hourly and daily counts (timed once: what a fresh node or a
lost rollup costs). The pages are rendered in-process by Django's test client for an auditor's
verified session, so the figure is the page's own work (queries, rendering), not the network.

- Overview ``/audit/?window=30d``: the page, p50/p95 of ``BENCH_CONSOLE_ROUNDS`` renders.
  Baseline, same run: the overview's four figures (events per day by outcome, plays per
  facility, plays per reviewer, denials by reason) as plain aggregates over the bare event
  table — what the page would cost without the rollup. Target: page < 500 ms.
- Search ``/audit/events/?reviewer=…&action=clip.audio``: the page, p50/p95 over different
  reviewers. Baseline, same run: the same filtered query (newest 51 rows) on the bare table
  through a cursor, no page. Target: page p95 < 300 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, manage, percentile, table  # noqa: E402

EVENTS = int(os.environ.get("BENCH_CONSOLE_EVENTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_CONSOLE_ROUNDS", "20"))
DATABASE = "reviewsvc_bench_console"

LOAD_SQL = """
INSERT INTO audit_accessevent (seq, time, actor_kind, actor_id, actor_label, action, clip_id, subject_pseudonym,
    facility_id, facility_name, client_address, outcome, reason, request_id, extra, prev_hash, hash, mac)
SELECT g, now() - ((%(n)s - g) * interval '30 days' / %(n)s), 'reviewer', (g %% 200 + 1)::text,
    'reviewer' || (g %% 200 + 1) || '@facility.example',
    (ARRAY['clip.audio','clip.audio','clip.audio','review.lease','transcript.submit','review.heartbeat'])[1 + g %% 6],
    md5((g %% 10000)::text)::uuid, md5((g %% 3000)::text) || md5((g %% 3000)::text),
    (g %% 200) %% 10 + 1, 'Facility ' || ((g %% 200) %% 10 + 1), '10.1.0.' || (g %% 250),
    CASE WHEN g %% 20 = 0 THEN 'denied' ELSE 'granted' END,
    CASE WHEN g %% 20 = 0 THEN (ARRAY['not_found','lease_expired','outside_facility_network'])[1 + g %% 3] ELSE '' END,
    'bench', '{"range":[0,99999],"size":320000}', repeat('0', 64), md5(g::text) || md5(g::text),
    -- distinct placeholders for the unique MAC column: this bench reads the log, never verifies it
    md5(g::text) || md5('m' || g) || md5('a' || g)
FROM generate_series(1, %(n)s) AS g
"""
BARE_OVERVIEW = [
    "SELECT date_trunc('day', time), outcome, count(*) FROM audit_accessevent "
    "WHERE time >= now() - interval '30 days' GROUP BY 1, 2",
    "SELECT facility_name, count(*) FROM audit_accessevent WHERE time >= now() - interval '30 days' "
    "AND action = 'clip.audio' AND outcome = 'granted' GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
    "SELECT actor_label, count(*) FROM audit_accessevent WHERE time >= now() - interval '30 days' "
    "AND action = 'clip.audio' AND outcome = 'granted' GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
    "SELECT reason, count(*) FROM audit_accessevent WHERE time >= now() - interval '30 days' "
    "AND outcome = 'denied' GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
]
BARE_SEARCH = (
    "SELECT * FROM audit_accessevent WHERE actor_kind = 'reviewer' AND actor_label = %s AND action = 'clip.audio' "
    "ORDER BY seq DESC LIMIT 51"
)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    env = bench_env(settings_module="config.settings.local", database=DATABASE)
    if not env["DATABASE_URL"].startswith("postgres"):
        print("needs PostgreSQL")
        return 1
    manage(env, "migrate", "--noinput")
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from apps.accounts.models import EncryptedTOTPDevice
    from apps.audit.rollups import event_counts_catch_up
    from apps.common.permissions import AUDITORS_GROUP

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, {"n": EVENTS})
        cursor.execute("ANALYZE audit_accessevent")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    event_counts_catch_up()
    rollup_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_eventcount")
        cursor.execute("SELECT count(*) FROM audit_eventcount")
        (rollup_rows,) = cursor.fetchone()

    user = User.objects.create_user("bench-auditor@example.org", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=AUDITORS_GROUP)[0])
    device = EncryptedTOTPDevice(user=user, name="bench", confirmed=True)
    device.set_seed(os.urandom(20))
    device.save()
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_HOST="127.0.0.1")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    def bare_overview() -> None:
        with connection.cursor() as cursor:
            for sql in BARE_OVERVIEW:
                cursor.execute(sql)
                cursor.fetchall()

    def page(path: str, params: dict) -> None:
        response = client.get(path, params)
        assert response.status_code == 200, response.status_code

    overview, bare, search, bare_search = [], [], [], []
    for round_number in range(ROUNDS):
        # Alternating, so a burst of load on the shared machine hits both sides alike.
        overview.append(_timed(lambda: page("/audit/", {"window": "30d"})))
        bare.append(_timed(bare_overview))
        reviewer = f"reviewer{round_number % 200 + 1}@facility.example"

        def bare_query(label: str = reviewer) -> None:
            with connection.cursor() as cursor:
                cursor.execute(BARE_SEARCH, [label])
                cursor.fetchall()

        search.append(
            _timed(lambda label=reviewer: page("/audit/events/", {"reviewer": label, "action": "clip.audio"}))
        )
        bare_search.append(_timed(bare_query))

    rows = [
        (
            "overview page, 30 days",
            f"{statistics.median(overview):.0f}",
            f"{percentile(overview, 0.95):.0f}",
            f"bare aggregates {statistics.median(bare):.0f} / {percentile(bare, 0.95):.0f}",
            "< 500 ms",
        ),
        (
            "search page, reviewer + action",
            f"{statistics.median(search):.0f}",
            f"{percentile(search, 0.95):.0f}",
            f"bare query {statistics.median(bare_search):.1f} / {percentile(bare_search, 0.95):.1f}",
            "p95 < 300 ms",
        ),
    ]
    print(
        f"{EVENTS:,} events loaded in {load_seconds:.1f} s; counted into {rollup_rows:,} rollup rows in "
        f"{rollup_seconds:.1f} s; load average {os.getloadavg()[0]:.1f}"
    )
    print(table(rows, ("page", "p50 ms", "p95 ms", "baseline p50 / p95 ms, same run", "target")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
