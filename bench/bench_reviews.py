"""The review workflow under the shipped server (2 workers) on 127.0.0.1, PostgreSQL when available.

1. Audio delivery of a 320 KiB clip with every check (session, OTP, facility network, lease,
   policy, rate limit), its access event and the lease extension committed before the first
   byte, and segmented decryption, against a bare Django view that serves the same bytes from a
   plain file with no checks, in the same run. Target >= 0.4x. With SoftHSM2 installed (and
   BENCH_REVIEWS_PKCS11 not 0), the same through a second server whose keys are in a SoftHSM2
   token (the pkcs11 provider: one C_Decrypt per request), for 8 more reviewers leasing clips
   wrapped there. Target >= 0.9x local.
2. The reviewer loop (next -> the whole audio -> submit a transcript), each thread its own
   reviewer with its own OTP-verified session, at concurrency 1 and 8, counting double leases;
   loops/s and the p50 of one loop. Targets: loop p50 at c=1 <= 25 ms, c=8 >= 2x the baseline
   checkout's loops/s. Beside them, the CPU a loop cost each server: its own processes, all of
   PostgreSQL, the sealer and this load generator (Linux /proc), which does not depend on
   whether the two cores were all in use.
3. ``next`` latency (p50/p99, c=1, each next followed by a release) with 10 k and with 1 M
   queued clips (rows bulk-inserted directly). Target: p99 grows < 2x.

BENCH_BASELINE_TREE=<another checkout> (e.g. a git worktree of the commit to compare with)
serves that code too, as it shipped (bench/common.py, ``shipped``), with the same keys, reviewers, sessions and clips:
from the same database when its migrations are this checkout's, else from a copy of it migrated back to its schema
(``baseline_database``). Its audio requests interleave with this checkout's, and the loops take
turns with this checkout's in BENCH_REVIEWS_LOOP_ROUNDS (2) rounds. The server choice, measured in the same run:
BENCH_REVIEWS_GTHREAD=N adds this checkout under 2 gunicorn gthread workers of N threads each,
BENCH_REVIEWS_SYNC=1 under 2 gunicorn sync workers, to the audio phase (each beside a bare view on
the same server) and to the loops; this checkout itself is served as it ships (config/server.py).

On PostgreSQL ``manage.py audit_sealer`` runs beside the servers throughout, as deployed, so the
run pays for sealing this checkout's events too.

Every request goes to 127.0.0.1; every phase is bounded in requests and in time.
Environment: BENCH_REVIEWS_AUDIO_REQUESTS (1000), BENCH_REVIEWS_LOOPS (1200 at c=8; c=1 runs a
quarter), BENCH_REVIEWS_NEXT_SAMPLES (300), BENCH_REVIEWS_BIG_QUEUE (1000000), BENCH_REVIEWS_WORKERS
(2: the worker processes of every server, the Dockerfile ships 4).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import os
import secrets
import shutil
import struct
import sys
import threading
import time
import wave
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    baseline_database,
    baseline_tree,
    bench_env,
    cpu_seconds_of_trees,
    free_port,
    gunicorn,
    manage,
    percentile,
    postgresql_pids,
    run_load,
    sealer,
    shipped,
    softhsm_env,
    table,
)

PORT = free_port()
BASELINE_TREE_PORT = free_port()
PKCS11_PORT = free_port()
# Other servers for this checkout, each on a port of its own: (name, port, start).
GTHREAD_THREADS = int(os.environ.get("BENCH_REVIEWS_GTHREAD", "0"))
OTHER_SERVERS = [
    *(
        [(f"gthread x{GTHREAD_THREADS}", free_port(), partial(gunicorn, threads=GTHREAD_THREADS))]
        if GTHREAD_THREADS
        else []
    ),
    *([("gunicorn sync", free_port(), gunicorn)] if os.environ.get("BENCH_REVIEWS_SYNC") == "1" else []),
]
# Worker processes of every server in the run, alike: 2 as the measurements always were, or
# the Dockerfile's 4.
WORKERS = int(os.environ.get("BENCH_REVIEWS_WORKERS", "2"))
LOOP_ROUNDS = int(os.environ.get("BENCH_REVIEWS_LOOP_ROUNDS", "2"))
CONCURRENCY = 8
AUDIO_REQUESTS = int(os.environ.get("BENCH_REVIEWS_AUDIO_REQUESTS", "1000"))
LOOPS = int(os.environ.get("BENCH_REVIEWS_LOOPS", "1200"))
NEXT_SAMPLES = int(os.environ.get("BENCH_REVIEWS_NEXT_SAMPLES", "300"))
BIG_QUEUE = int(os.environ.get("BENCH_REVIEWS_BIG_QUEUE", "1000000"))
SMALL_QUEUE = 10_000
PHASE_SECONDS = 120
CLIP_BYTES = 320 * 1024
ADDRESS = "127.0.0.1"
# Languages of the bulk-inserted queue: the latency reviewer takes the first two, in region EU.
BULK_LANGUAGES = ("nl-NL", "sv-SE", "pl-PL", "cs-CZ")
BULK_REGIONS = ("EU", "US")


def wav_of_size(size: int) -> bytes:
    """A mono 16 kHz PCM WAV of exactly ``size`` bytes."""
    frames = (size - 44) // 2
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(i / 9))) for i in range(frames)))
    data = buffer.getvalue()
    assert len(data) == size, len(data)
    return data


# --- In-process setup through the services -----------------------------------------------------
def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def context():
    from apps.common.context import RequestContext

    return RequestContext.system("bench")


def facility_make():
    from apps.facilities.models import Facility

    return Facility.objects.create(name="Bench", country="DE", networks=["127.0.0.0/8"], regions=["EU"])


def reviewer_enrol(email: str, languages: list[str]):
    """A reviewer made the way a person becomes one: invite, own password, own authenticator."""
    from django.utils import timezone
    from django_otp.oath import TOTP

    from apps.accounts.models import TOTP_DIGITS, TOTP_STEP, EncryptedTOTPDevice, Invite
    from apps.accounts.services import hash_invite_token, invite_accept, invite_confirm, reviewer_invite
    from reviewsvc.net import parse_address

    reviewer, url = reviewer_invite(
        email=email,
        facility_name="Bench",
        languages=languages,
        vetted_until=timezone.localdate() + timedelta(days=30),
        context=context(),
    )
    token = url.split("#", 1)[1]
    address = parse_address(ADDRESS)
    invite_accept(token=token, password=f"bench-{secrets.token_hex(8)}-pw", client_address=address, context=context())
    user = Invite.objects.get(token_hash=hash_invite_token(token)).user
    device = EncryptedTOTPDevice.objects.get(user=user, confirmed=False)
    totp = TOTP(device.bin_key, TOTP_STEP, 0, TOTP_DIGITS, 0)
    totp.time = timezone.now().timestamp()
    invite_confirm(token=token, otp=f"{totp.token():0{TOTP_DIGITS}d}", client_address=address, context=context())
    device.refresh_from_db()
    user.refresh_from_db()
    return user, device


def session_headers(user, device) -> dict[str, str]:
    """An OTP-verified session made directly, as a login leaves it, plus a CSRF pair.

    Written by this checkout's session engine and copied into Django's own session table, where
    code before ``AccountSession`` (a ``BENCH_BASELINE_TREE``) reads it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY

    from apps.accounts.services import session_start
    from apps.accounts.session_store import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session_start(session=session, user=user, now=timezone.now())
    session.save()
    row = session.model.objects.get(session_key=session.session_key)
    Session.objects.create(session_key=row.session_key, session_data=row.session_data, expire_date=row.expire_date)
    csrf = secrets.token_hex(16)
    return {"Cookie": f"sessionid={session.session_key}; csrftoken={csrf}", "X-CSRFToken": csrf}


def queue_clips(count: int, audio: bytes, *, language: str = "de-DE") -> None:
    from apps.clips.services import clip_ingest

    for index in range(count):
        clip_ingest(
            audio=audio,
            subject_id=f"bench-subject-{index % 50}",
            language=language,
            region="EU",
            activation="deliberate",
            captured_at=None,
            api_key=None,
            context=context(),
        )


def bulk_queue(count: int, *, older_than_existing: bool) -> None:
    """``count`` queued clip rows inserted directly (no audio): only the queue is measured."""
    from django.db import connection

    from apps.clips.models import Clip, Subject

    Subject.objects.get_or_create(subject_id="bench-bulk")
    expressions = {
        "id": "gen_random_uuid()",
        "subject": "'bench-bulk'",
        "language": f"(ARRAY{list(BULK_LANGUAGES)})[1 + mod(n, {len(BULK_LANGUAGES)})]",
        "region": f"(ARRAY{list(BULK_REGIONS)})[1 + mod(n / {len(BULK_LANGUAGES)}, {len(BULK_REGIONS)})]",
        "activation": "'deliberate'",
        "captured_at": "NULL",
        "duration_ms": "10000",
        "audio_format": "'wav'",
        "mime_type": "'audio/wav'",
        "size_bytes": str(CLIP_BYTES),
        "blob_name": "''",
        "wrapped_key": "'\\x00'::bytea",
        "key_version": "1",
        "status": "'queued'",
        "ingested_by": "NULL",
        # Older rows go before the queue's current head, so the head moves into the new rows.
        "created_at": "now() - interval '1 day' - n * interval '1 millisecond'"
        if older_than_existing
        else "now() - interval '1 hour' + n * interval '1 millisecond'",
        "status_changed_at": "now()",
    }
    fields = [field for field in Clip._meta.concrete_fields]
    missing = [field.name for field in fields if field.name not in expressions]
    if missing:
        raise SystemExit(f"bench_reviews.bulk_queue does not know the clip columns {missing}")
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = ", ".join(expressions[field.name] for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Clip._meta.db_table} ({columns}) SELECT {values} FROM generate_series(1, %s) AS n",
            [count],
        )
        cursor.execute(f"ANALYZE {Clip._meta.db_table}")


def lease_for(user):
    """Lease a clip for ``user`` through the service; returns the audio path."""
    from django.utils import timezone

    from apps.accounts.selectors import reviewer_snapshot
    from apps.reviews.apis import audio_url
    from apps.reviews.services import assignment_lease_next
    from reviewsvc.net import parse_address

    snapshot = reviewer_snapshot(
        user=user, client_address=parse_address(ADDRESS), otp_verified=True, today=timezone.localdate()
    )
    return audio_url(assignment_lease_next(reviewer=snapshot, context=context()).id)


def leased_twice(runs: tuple[dict[str, Loops], ...], names: list[str]) -> int:
    """Clips the servers ``names`` (one database) handed out more than once, over all ``runs``."""
    leased = Counter(clip for run in runs for name in names for clip in run[name].clips)
    return sum(1 for count in leased.values() if count > 1)


def double_leases() -> int:
    from django.db.models import Count

    from apps.reviews.models import Assignment

    return (
        Assignment.objects.filter(status__in=["active", "submitted"])
        .values("clip_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )


# --- HTTP ------------------------------------------------------------------------------------
def request(conn, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def per_connection(headers_list: list[dict[str, str]], paths: list[str]):
    """``make_request`` for run_load: each keep-alive connection is one reviewer with their lease."""
    assigned: dict[int, int] = {}
    lock = threading.Lock()

    def send(conn) -> bool:
        with lock:
            index = assigned.setdefault(id(conn), len(assigned) % len(headers_list))
        status, data = request(conn, "GET", paths[index], headers_list[index])
        return status == 200 and len(data) == CLIP_BYTES

    return send


def baseline_request(conn) -> bool:
    status, data = request(conn, "GET", "/bench/audio", {})
    return status == 200 and len(data) == CLIP_BYTES


def interleaved(senders, *, requests: int, rounds: int = 5) -> list[tuple[float, list[float], int]]:
    """Each (port, sender) in turn, ``rounds`` times: a noisy neighbour on this shared machine hits
    every side alike. Per sender: (requests/s over all its rounds, latencies, failures)."""
    totals = [[0.0, [], 0] for _ in senders]
    for _ in range(rounds):
        for total, (port, send) in zip(totals, senders, strict=True):
            started = time.perf_counter()
            _, latencies, failed = run_load(
                port=port, requests=requests // rounds, concurrency=CONCURRENCY, make_request=send
            )
            total[0] += time.perf_counter() - started
            total[1] += latencies
            total[2] += failed
    return [(len(latencies) / seconds, latencies, failed) for seconds, latencies, failed in totals]


@dataclass
class Loops:
    """What reviewer_loops saw on one server, added up over its rounds."""

    seconds: float = 0.0
    done: int = 0
    failed: int = 0
    clips: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    # CPU seconds spent while this server's loops ran, by whom (see ``cpu_roots``).
    cpu: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def reviewer_loops(
    sessions: list[dict[str, str]], loops: int, *, port: int = PORT, into: Loops, cpu_roots: dict[str, list[int]]
) -> Loops:
    """Each thread one reviewer: next -> whole audio -> transcript, ``loops`` in all, on ``port``;
    the CPU every process of ``cpu_roots`` (``cpu_seconds_of_trees``) and this one spent meanwhile."""
    counter = iter(range(loops))
    lock = threading.Lock()
    deadline = time.monotonic() + PHASE_SECONDS

    def work(headers: dict[str, str]) -> None:
        conn = http.client.HTTPConnection(ADDRESS, port, timeout=30)
        post_headers = {**headers, "Content-Type": "application/json"}
        for _ in counter:
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            status, data = request(conn, "POST", "/api/v1/review/next", post_headers)
            if status != 200:
                with lock:
                    into.failed += 1
                continue
            lease = json.loads(data)
            audio_status, audio = request(conn, "GET", lease["audio_url"], headers)
            path = f"/api/v1/review/assignments/{lease['assignment']}/transcript"
            body = json.dumps({"text": "bench transcript", "flags": []}).encode()
            submit_status, _ = request(conn, "POST", path, post_headers, body)
            ok = audio_status == 200 and len(audio) == CLIP_BYTES and submit_status == 201
            elapsed = time.perf_counter() - started
            with lock:
                into.clips.append(lease["clip"])
                into.latencies.append(elapsed)
                into.done += ok
                into.failed += not ok

    threads = [threading.Thread(target=work, args=(headers,)) for headers in sessions]
    cpu_before, own_before = cpu_seconds_of_trees(cpu_roots), time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    into.seconds += time.perf_counter() - started
    into.cpu["load generator"] += time.process_time() - own_before
    into.cpu.update({name: seconds - cpu_before[name] for name, seconds in cpu_seconds_of_trees(cpu_roots).items()})
    return into


def loops_interleaved(
    servers: list[tuple[str, int]],
    sessions: list[dict[str, str]],
    loops: int,
    *,
    cpu_roots: dict[int, dict[str, list[int]]],
    rounds: int = LOOP_ROUNDS,
) -> dict[str, Loops]:
    """``loops`` reviewer loops on each server, the servers taking turns in ``rounds`` rounds;
    ``cpu_roots``: per port, the processes whose CPU the loops on it are charged with."""
    results = {name: Loops() for name, _ in servers}
    for _ in range(rounds):
        for name, port in servers:
            reviewer_loops(sessions, max(loops // rounds, 1), port=port, into=results[name], cpu_roots=cpu_roots[port])
    return results


def next_latencies(headers: dict[str, str], samples: int) -> tuple[list[float], int]:
    conn = http.client.HTTPConnection(ADDRESS, PORT, timeout=30)
    post_headers = {**headers, "Content-Type": "application/json"}
    latencies, failed = [], 0
    deadline = time.monotonic() + PHASE_SECONDS
    for _ in range(samples):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        status, data = request(conn, "POST", "/api/v1/review/next", post_headers)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            failed += 1
            continue
        assignment = json.loads(data)["assignment"]
        release_status, _ = request(conn, "POST", f"/api/v1/review/assignments/{assignment}/release", post_headers)
        failed += release_status != 200
    return latencies, failed


CPU_WHO = ("server", "PostgreSQL", "sealer", "load generator")
CPU_HEADER = ("CPU a loop, ms", *CPU_WHO, "all", "same run")


def cpu_rows(phases: tuple[tuple[str, dict[str, Loops]], ...], first: str) -> list[tuple[str, ...]]:
    """Milliseconds of CPU per finished loop, by whom, on each server: what a loop costs the
    machine, whether or not its two cores were all in use."""
    rows = []
    for label, results in phases:
        totals = {name: sum(result.cpu.values()) / max(result.done, 1) for name, result in results.items()}
        for name, result in results.items():
            per_loop = [result.cpu[who] / max(result.done, 1) * 1000 for who in CPU_WHO]
            versus = "-" if name == first else f"{totals[name] / totals[first]:.2f}x this checkout's"
            rows.append((f"{label}, {name}", *(f"{value:.2f}" for value in per_loop), f"{sum(per_loop):.2f}", versus))
    return rows


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}"


def main() -> None:
    env = bench_env(settings_module="bench.reviews_settings", database="bench_reviews")
    env.update(
        {
            # The per-reviewer caps protect real work; a benchmark is not real work.
            "REVIEWSVC_LEASES_PER_HOUR": "100000000",
            "REVIEWSVC_AUDIO_REQUESTS_PER_HOUR": "100000000",
            "REVIEWSVC_ALERT_REPEATED_PLAYS": "0",
            "REVIEWSVC_ALERT_DENIALS": "0",
        }
    )
    postgres = env["DATABASE_URL"].startswith("postgres")
    audio = wav_of_size(CLIP_BYTES)
    baseline_file = Path(env["REVIEWSVC_VAR_DIR"]) / "baseline.wav"
    baseline_file.write_bytes(audio)
    env["BENCH_BASELINE_AUDIO"] = str(baseline_file)
    hsm = softhsm_env() if os.environ.get("BENCH_REVIEWS_PKCS11", "1") != "0" else None
    if hsm:
        # This process makes clips under both providers: it knows the token, uses the file first.
        env.update({name: value for name, value in hsm.items() if name != "REVIEWSVC_KEY_PROVIDER"})
    hsm_env = {**env, **hsm} if hsm else None
    manage(env, "migrate", "--noinput")
    if hsm_env:
        manage(hsm_env, "create_master_keys")
    django_setup(env)

    facility_make()
    streamers = [reviewer_enrol(f"stream{i}@bench.example", ["de-DE"]) for i in range(CONCURRENCY)]
    loopers = [reviewer_enrol(f"loop{i}@bench.example", ["de-DE"]) for i in range(CONCURRENCY)]
    timer = reviewer_enrol("next@bench.example", list(BULK_LANGUAGES[:2]))
    queue_clips(CONCURRENCY, audio)
    audio_paths = [lease_for(user) for user, _ in streamers]
    stream_sessions = [session_headers(user, device) for user, device in streamers]
    if hsm_env:
        from django.conf import settings

        hsm_streamers = [reviewer_enrol(f"hsm-stream{i}@bench.example", ["de-DE"]) for i in range(CONCURRENCY)]
        settings.REVIEWSVC_KEY_PROVIDER = "pkcs11"
        queue_clips(CONCURRENCY, audio)
        settings.REVIEWSVC_KEY_PROVIDER = "local"
        hsm_paths = [lease_for(user) for user, _ in hsm_streamers]
        hsm_sessions = [session_headers(user, device) for user, device in hsm_streamers]
    loop_sessions = [session_headers(user, device) for user, device in loopers]
    timer_session = session_headers(*timer)
    loops_c1 = max(LOOPS // 4, 1)
    base_root = baseline_tree()
    servers = [("this checkout", PORT)]
    base_name = f"baseline {base_root.name}" if base_root else ""
    if base_root:
        servers.append((base_name, BASELINE_TREE_PORT))
    servers += [(f"this checkout, {name}", port) for name, port, _ in OTHER_SERVERS]
    queue_clips((loops_c1 + LOOPS) * len(servers) + 2 * CONCURRENCY * LOOP_ROUNDS, audio)
    base_env = env
    if base_root:
        from django.db import connections

        connections.close_all()
        base_env = baseline_database(env, base_root)

    with contextlib.ExitStack() as stack:
        sealing = stack.enter_context(sealer(env))
        pids = {PORT: stack.enter_context(shipped(env, port=PORT, workers=WORKERS)).pid}
        if base_root:
            # The same keys, reviewers and clips: only the code (and the server it ships with) differs.
            baseline_server = shipped(base_env, port=BASELINE_TREE_PORT, workers=WORKERS, root=base_root)
            pids[BASELINE_TREE_PORT] = stack.enter_context(baseline_server).pid
        for _, port, start in OTHER_SERVERS:
            pids[port] = stack.enter_context(start(env, port=port)).pid
        # Each server is charged with its own processes and all of PostgreSQL's (both databases
        # are on it; the one not in use idles) and the sealer's (idle on the baseline's turn).
        cpu_roots = {
            port: {"server": [pid], "PostgreSQL": postgresql_pids(), "sealer": [sealing.pid] if sealing else []}
            for port, pid in pids.items()
        }
        if hsm_env:
            stack.enter_context(shipped(hsm_env, port=PKCS11_PORT))
        send = per_connection(stream_sessions, audio_paths)
        senders = [(PORT, baseline_request), (PORT, send)]
        if base_root:
            senders.append((BASELINE_TREE_PORT, send))
        for _, port, _ in OTHER_SERVERS:
            senders += [(port, baseline_request), (port, send)]
        if hsm_env:
            senders.append((PKCS11_PORT, per_connection(hsm_sessions, hsm_paths)))
        for port, sender in senders:
            run_load(port=port, requests=40, concurrency=CONCURRENCY, make_request=sender)
        (base_rate, base_lat, base_fail), (rate, lat, fail), *others = interleaved(senders, requests=AUDIO_REQUESTS)
        tree_result = others.pop(0) if base_root else None
        other_results = [(name, others.pop(0), others.pop(0)) for name, _, _ in OTHER_SERVERS]
        hsm_result = others

        c1 = loops_interleaved(servers, loop_sessions[:1], loops_c1, cpu_roots=cpu_roots)
        c8 = loops_interleaved(servers, loop_sessions, LOOPS, cpu_roots=cpu_roots)
        # A clip leased twice from one database is a double lease; a baseline served from a copy
        # of the database leases the same clips again, in its own.
        apart = [base_name] if base_env is not env else []
        together = [name for name, _ in servers if name not in apart]
        twice_http = sum(leased_twice((c1, c8), names) for names in (together, apart))
        twice_db = double_leases()

        latency_rows = []
        if postgres:
            bulk_queue(SMALL_QUEUE, older_than_existing=False)
            small, small_fail = next_latencies(timer_session, NEXT_SAMPLES)
            bulk_queue(BIG_QUEUE - SMALL_QUEUE, older_than_existing=True)
            big, big_fail = next_latencies(timer_session, NEXT_SAMPLES)
            growth = percentile(big, 99) / percentile(small, 99)
            latency_rows = [
                (f"next, {SMALL_QUEUE:,} queued", ms(small, 50), ms(small, 99), str(small_fail), "1.00x"),
                (
                    f"next, {BIG_QUEUE:,} queued",
                    ms(big, 50),
                    ms(big, 99),
                    str(big_fail),
                    f"p99 {growth:.2f}x (target < 2x)",
                ),
            ]

    database = "PostgreSQL" if postgres else "SQLite"
    print(f"review workflow, 2 workers as shipped on 127.0.0.1, {database}, clip {CLIP_BYTES // 1024} KiB WAV")
    print()
    audio_rows = [
        ("baseline: bare view, plain file", f"{base_rate:.0f}", ms(base_lat, 50), str(base_fail), "1.00x"),
        (
            "audio: checks+event+lease+decrypt",
            f"{rate:.0f}",
            ms(lat, 50),
            str(fail),
            f"{rate / base_rate:.2f}x (target >= 0.4x)",
        ),
    ]
    if tree_result:
        tree_rate, tree_lat, tree_fail = tree_result
        audio_rows.append(
            (
                f"audio, baseline {base_root.name}",
                f"{tree_rate:.0f}",
                ms(tree_lat, 50),
                str(tree_fail),
                f"{tree_rate / base_rate:.2f}x; this checkout {rate / tree_rate:.2f}x of it",
            )
        )
    for name, (bare_rate, bare_lat, bare_fail), (other_rate, other_lat, other_fail) in other_results:
        audio_rows += [
            (f"bare view, {name}", f"{bare_rate:.0f}", ms(bare_lat, 50), str(bare_fail), "1.00x"),
            (
                f"audio, {name}",
                f"{other_rate:.0f}",
                ms(other_lat, 50),
                str(other_fail),
                f"{other_rate / bare_rate:.2f}x of the bare view on {name}; {other_rate / rate:.2f}x shipped",
            ),
        ]
    audio_rows += [
        (
            "audio, keys in SoftHSM2 (pkcs11)",
            f"{hsm_rate:.0f}",
            ms(hsm_lat, 50),
            str(hsm_fail),
            f"{hsm_rate / base_rate:.2f}x; {hsm_rate / rate:.2f}x local (target >= 0.9x)",
        )
        for hsm_rate, hsm_lat, hsm_fail in hsm_result
    ]
    print(table(audio_rows, ("audio delivery, c=8", "req/s", "p50 ms", "failed", "ratio")))
    print()
    first = servers[0][0]
    loop_rows = []
    for label, results in (("c=1", c1), ("c=8", c8)):
        for name, result in results.items():
            versus = "-" if name == first else f"this checkout {results[first].rate / result.rate:.2f}x of it"
            loop_rows.append(
                (
                    f"{label}, {name}",
                    f"{result.rate:.1f}",
                    ms(result.latencies, 50) if result.latencies else "-",
                    str(result.done),
                    str(result.failed),
                    versus,
                )
            )
    loop_rows.append(("double leases (HTTP / DB)", f"{twice_http} / {twice_db}", "", "", "", "target 0"))
    print(
        table(
            loop_rows,
            ("reviewer loop: next, audio, submit", "loops/s", "loop p50 ms", "loops", "failed", "same run"),
        )
    )
    print("targets: loop p50 at c=1 <= 25 ms; c=8 loops/s >= 2x the baseline checkout's")
    print()
    print(table(cpu_rows((("c=1", c1), ("c=8", c8)), first), CPU_HEADER))
    if latency_rows:
        print()
        print(table(latency_rows, ("next latency, c=1", "p50 ms", "p99 ms", "failed", "growth")))
    else:
        print("\n(next latency with 1 M queued clips needs PostgreSQL; skipped on SQLite)")
    # The encrypted clips of this run are hundreds of MB: they go with it.
    shutil.rmtree(env["REVIEWSVC_VAR_DIR"], ignore_errors=True)
    if twice_http or twice_db:
        raise SystemExit("double leases seen")


if __name__ == "__main__":
    main()
