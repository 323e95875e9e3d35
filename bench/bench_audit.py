"""Access log: chained appends from 8 and 16 writer processes, verification and proofs at 1,000,000 events.

Needs PostgreSQL (BENCH_PG_ADMIN, default the local server); creates `reviewsvc_bench_audit`.
Sizes: BENCH_AUDIT_WRITERS (default "8,16"), BENCH_AUDIT_PER_WRITER (1000), BENCH_AUDIT_APPEND_ROUNDS (8),
BENCH_AUDIT_ROUNDS (verification runs, 4), BENCH_AUDIT_VERIFY_EVENTS (1000000), BENCH_AUDIT_PROOFS (50).

1. Appends, N processes at once, one event per transaction: ``event_record`` (MAC, one INSERT
   into the pending table, no lock) with a sealer process (``manage.py audit_sealer``) sealing
   them meanwhile, against plain single-row INSERTs of the same rows (MAC included) into a copy
   of the log's table with the same indexes but no chain and a sequence for ``seq``. The same
   writer processes serve every round of a writer count. Same run, alternating rounds (each side
   first in every other one); the best round of each is compared (the machine is shared: the best
   round is the least disturbed one), and so is the median of the rounds' own ratios (each
   round's two turns ran back to back). Each turn starts from a vacuumed, analysed table and a
   fresh checkpoint (`steady_state`). Target: appends >= 0.9x plain. Sealing lag, over every
   event of every round: from the event's ``time`` (taken just before its INSERT) to when a poll
   of the log (every 50 ms) first sees it sealed; p50 and p99. Target: p99 < 2 s. The plain
   table is polled alike during its turns, so the observer costs both sides the same.
2. Verification: 1,000,000 events are generated (chained and MACed in Python, loaded with
   COPY), a checkpoint is signed, then ``audit_log_verify`` reads and checks the whole log
   (sequence, chain, every MAC, Merkle root against every checkpoint in every source).
   Baseline, same run: SHA-256 alone over the same encoded records, in memory. Alternating
   runs, best of each. Target: verification >= 1/8 of that rate.
3. Proofs at that size: ``event_inclusion_proof`` for random events and a consistency proof
   between the two checkpoints, from the stored tree nodes. Baseline, same run: reading one
   event row by its seq. Target: inclusion proof < 20 ms.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, bench_env, manage, table  # noqa: E402

WRITER_COUNTS = [int(n) for n in os.environ.get("BENCH_AUDIT_WRITERS", "8,16").split(",")]
PER_WRITER = int(os.environ.get("BENCH_AUDIT_PER_WRITER", "1000"))
APPEND_ROUNDS = int(os.environ.get("BENCH_AUDIT_APPEND_ROUNDS", "8"))
ROUNDS = int(os.environ.get("BENCH_AUDIT_ROUNDS", "4"))
VERIFY_EVENTS = int(os.environ.get("BENCH_AUDIT_VERIFY_EVENTS", "1000000"))
PROOFS = int(os.environ.get("BENCH_AUDIT_PROOFS", "50"))
DATABASE = "reviewsvc_bench_audit"

COLUMNS = (
    "time, actor_kind, actor_id, actor_label, action, clip_id, subject_pseudonym, facility_id, facility_name, "
    "client_address, outcome, reason, request_id, extra, prev_hash, hash, mac"
)
PLAIN_INSERT = f"INSERT INTO bench_plain_event ({COLUMNS}) VALUES ({', '.join(['%s'] * 17)})"


def _django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def _writer(env: dict[str, str], worker: int, count: int, commands, barrier, results) -> None:
    """One writer process for every round of a writer count: Django is set up once, then each
    command (chained or not; None ends it) is one round of ``count`` events, started together."""
    _django(env)
    from django.db import connection, transaction

    from apps.audit.selectors import event_mac_function
    from apps.audit.services import _event_fields, event_record
    from apps.common.compiled import execute_unread
    from apps.common.context import RequestContext
    from reviewsvc.audit import chain

    context = RequestContext(
        actor_kind="reviewer",
        actor_id=str(worker),
        actor_label=f"reviewer{worker}@facility-a.example",
        client_address="10.1.2.3",
        request_id="bench",
    )
    clip = uuid.uuid4()
    while (chained := commands.get()) is not None:
        connection.ensure_connection()
        barrier.wait()
        started = time.monotonic()
        for number in range(count):
            with transaction.atomic():
                if chained:
                    event_record(
                        action="clip.audio",
                        context=context,
                        clip_id=clip,
                        subject_id="bench-subject",
                        extra={"n": number},
                    )
                else:
                    # The same rows, the same Python work to build them, sent the same way
                    # (``execute_unread``, with the COMMIT); no chain, no lock.
                    fields = _event_fields(
                        action="clip.audio",
                        context=context,
                        outcome="granted",
                        reason="",
                        clip_id=clip,
                        subject_id="bench-subject",
                        facility_id=None,
                        facility_name=None,
                        extra={"n": number},
                    )
                    body = chain.encode_body(fields)
                    mac = chain.event_mac(event_mac_function(), body)
                    params = [
                        *(fields[name] for name in chain.BODY_FIELDS[:-1]),
                        chain.canonical_json(fields["extra"]),
                        chain.GENESIS,
                        hashlib.sha256(body).hexdigest(),
                        mac,
                    ]
                    execute_unread(PLAIN_INSERT, params)
        results.put((started, time.monotonic()))
    connection.close()


class Writers:
    """``count`` writer processes kept for all the rounds of one writer count: a round then
    costs its appends, not sixteen Django start-ups, so the same time buys more rounds."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.barrier, self.results = spawn.Barrier(count), spawn.Queue()
        self.commands = [spawn.Queue() for _ in range(count)]
        self.processes = [
            spawn.Process(
                target=_writer, args=(env, worker, PER_WRITER, self.commands[worker], self.barrier, self.results)
            )
            for worker in range(count)
        ]
        for process in self.processes:
            process.start()

    def round(self, *, chained: bool, lags: list[float] | None = None) -> float:
        """Events/s of one round; with ``lags``, each event's sealing lag (s) is added to it.

        Both sides are watched alike (the plain table polled as the log is), so the observer's
        own queries cost the two the same; only the chained side's lags are kept.
        """
        watch = LagWatch("audit_accessevent" if chained else "bench_plain_event")
        for commands in self.commands:
            commands.put(chained)
        spans: list[tuple[float, float]] = []
        deadline = time.monotonic() + 600
        while len(spans) < len(self.processes):
            watch.poll()
            try:
                spans.append(self.results.get(timeout=0.05))
            except queue.Empty:
                # A writer that died leaves the others waiting at the barrier: stop them all.
                if any(p.exitcode for p in self.processes) or time.monotonic() > deadline:
                    self.stop(force=True)
                    raise SystemExit("a writer failed or stalled; its traceback is above") from None
        elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
        if lags is not None:
            lags.extend(watch.until_sealed())
        return len(self.processes) * PER_WRITER / elapsed

    def stop(self, *, force: bool = False) -> None:
        for process, commands in zip(self.processes, self.commands, strict=True):
            if force:
                process.terminate()
            else:
                commands.put(None)
        for process in self.processes:
            process.join(timeout=60)


def steady_state() -> None:
    """Every round starts alike: the tables vacuumed and analysed, as autovacuum keeps them in a
    deployment (this machine's PostgreSQL runs with it off), and no checkpoint half done, so
    neither side pays the full-page writes of one the other side started."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) audit_pendingevent, audit_accessevent, bench_plain_event")
        cursor.execute("CHECKPOINT")


class LagWatch:
    """Polls ``table`` every 50 ms: an event's lag is from its ``time`` to the poll that first sees it sealed."""

    def __init__(self, table: str) -> None:
        from django.db import connection

        self.connection = connection
        self.table = table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT coalesce(max(seq), 0) FROM {table}")
            self.head = cursor.fetchone()[0]
        self.lags: list[float] = []

    def poll(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT seq, time FROM {self.table} WHERE seq > %s ORDER BY seq", [self.head])
            rows = cursor.fetchall()
        now = datetime.now(UTC)
        for seq, when in rows:
            self.lags.append((now - when).total_seconds())
            self.head = seq

    def until_sealed(self) -> list[float]:
        from apps.audit.models import PendingEvent

        deadline = time.monotonic() + 120
        while PendingEvent.objects.exists():
            if time.monotonic() > deadline:
                raise SystemExit("the sealer did not keep up: events still pending after 120 s")
            self.poll()
            time.sleep(0.05)
        self.poll()
        return self.lags


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def generate(count: int) -> list[bytes]:
    """Append ``count`` varied events after the current head with COPY; returns the hashed records."""
    from django.db import connection

    from apps.audit.selectors import event_mac_function
    from reviewsvc.audit import chain

    mac = event_mac_function()
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM audit_accessevent ORDER BY seq DESC LIMIT 1")
        head = cursor.fetchone() or (0, chain.GENESIS)
    seq, prev = head
    base = datetime(2026, 11, 1, tzinfo=UTC)
    base_micros = chain.time_micros(base)
    actions = ("clip.next", "clip.audio", "transcript.submit", "auth.login", "clip.release")
    facilities = ("", "Berlin Office", "Lisbon Hub", "Austin Lab")
    records = []
    sha256, version, separator = hashlib.sha256, bytes([0, chain.VERSION]), chain.SEPARATOR
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY audit_accessevent (seq, {COLUMNS}) FROM STDIN") as copy,
    ):
        for number in range(count):
            seq += 1
            facility = number % 4
            fields = [
                str(base_micros + number * 1000),
                "reviewer",
                str(number % 50),
                f"reviewer{number % 50}@facility.example",
                actions[number % 5],
                str(uuid.UUID(int=number * 7919 + 1)),
                sha256(b"s%d" % (number % 1000)).hexdigest(),
                str(facility) if facility else "",
                facilities[facility],
                f"10.1.{number % 250}.{number % 200}",
                "granted" if number % 17 else "denied",
                "" if number % 17 else "lease_expired",
                uuid.UUID(int=number).hex[:20],
                f'{{"n":{number}}}',
            ]
            body = separator.join(fields).encode()
            record = version + seq.to_bytes(8, "big") + bytes.fromhex(prev) + body
            digest = sha256(record).hexdigest()
            records.append(record)
            when = base + timedelta(milliseconds=number)
            row = [seq, when, *fields[1:7], fields[7] or None, *fields[8:], prev, digest, chain.event_mac(mac, body)]
            copy.write_row(row)
            prev = digest
    return records


def raw_sha256_rate(records: list[bytes]) -> float:
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for record in records:
        sha256(record).digest()
    return len(records) / (time.perf_counter() - started)


def main() -> None:
    env = bench_env(settings_module="config.settings.local", database=DATABASE)
    if not env["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("bench_audit needs PostgreSQL")
    manage(env, "migrate", "--noinput")
    _django(env)
    from django.db import connection

    from apps.audit.models import AccessEvent

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_plain_event (LIKE audit_accessevent INCLUDING DEFAULTS INCLUDING INDEXES); "
            "CREATE SEQUENCE bench_plain_seq; "
            "ALTER TABLE bench_plain_event ALTER COLUMN seq SET DEFAULT nextval('bench_plain_seq')"
        )
    connection.close()

    append_rows, append_lines = [], []
    sealer = subprocess.Popen(
        [sys.executable, "manage.py", "audit_sealer"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        for writers in WRITER_COUNTS:
            plain, chained, lags = [], [], []
            pool = Writers(env, writers)
            try:
                for number in range(APPEND_ROUNDS):
                    # Each side goes first in every other round: a machine getting busier or
                    # quieter over the run favours neither.
                    for chained_turn in (False, True) if number % 2 == 0 else (True, False):
                        steady_state()
                        if chained_turn:
                            chained.append(pool.round(chained=True, lags=lags))
                        else:
                            plain.append(pool.round(chained=False))
            finally:
                pool.stop()
            plain_rate, chained_rate = max(plain), max(chained)
            append_rows.append(
                (
                    f"appends, {writers} processes (events/s)",
                    f"{chained_rate:,.0f}",
                    f"plain INSERT {plain_rate:,.0f}",
                    f"{chained_rate / plain_rate:.2f}x",
                    ">= 0.90x",
                )
            )
            # Each round's two turns ran back to back: their ratio is the least disturbed comparison
            # a shared machine gives, and the median of those ratios the least swayed by one turn.
            paired = statistics.median(c / p for c, p in zip(chained, plain, strict=True))
            append_rows.append(
                (
                    f"  median of the {APPEND_ROUNDS} rounds' ratios",
                    "",
                    "",
                    f"{paired:.2f}x",
                    "",
                )
            )
            append_rows.append(
                (
                    f"sealing lag, {writers} processes (ms, p50 / p99 of {len(lags):,})",
                    f"{percentile(lags, 0.5) * 1000:.0f} / {percentile(lags, 0.99) * 1000:.0f}",
                    "",
                    "",
                    "p99 < 2000 ms",
                )
            )
            append_lines.append(f"appends, {writers} processes: sealed {listed(chained)}; plain {listed(plain)}")
    finally:
        sealer.terminate()
        sealer.wait(timeout=30)

    from apps.audit.selectors import audit_log_verify, checkpoint_at, event_inclusion_proof, log_consistency_proof
    from apps.audit.services import checkpoint_create

    appended = sum(WRITER_COUNTS) * PER_WRITER * APPEND_ROUNDS
    first = checkpoint_create()
    started = time.perf_counter()
    records = generate(VERIFY_EVENTS)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    checkpoint = checkpoint_create()
    signing = time.perf_counter() - started
    baselines, verify_rates = [], []
    for _ in range(ROUNDS):
        baselines.append(raw_sha256_rate(records))
        started = time.perf_counter()
        result = audit_log_verify()
        verifying = time.perf_counter() - started
        if not result.ok or result.entries != appended + VERIFY_EVENTS or checkpoint.size != result.entries:
            raise SystemExit(f"verification failed: {result}")
        verify_rates.append(result.entries / verifying)
    baseline, verify_rate = max(baselines), max(verify_rates)

    signed = checkpoint_at(checkpoint.size)
    picks = random.Random(11).sample(range(1, checkpoint.size + 1), min(PROOFS, checkpoint.size))
    proof_ms, read_ms = [], []
    for seq in picks:
        started = time.perf_counter()
        event_inclusion_proof(seq=seq, checkpoint=signed)
        proof_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        AccessEvent.objects.filter(seq=seq).values_list("hash", flat=True).get()
        read_ms.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    log_consistency_proof(old=checkpoint_at(first.size), new=signed)
    consistency_ms = (time.perf_counter() - started) * 1000
    connection.close()

    proof_p50, proof_max = statistics.median(proof_ms), max(proof_ms)
    rows = [
        *append_rows,
        (
            f"verify {result.entries:,} events, MACs included (events/s)",
            f"{verify_rate:,.0f}",
            f"raw SHA-256 {baseline:,.0f}",
            f"1/{baseline / verify_rate:.1f}",
            ">= 1/8",
        ),
        (
            f"inclusion proof at {checkpoint.size:,} events (ms, p50 / max of {len(picks)})",
            f"{proof_p50:.1f} / {proof_max:.1f}",
            f"one row by seq {statistics.median(read_ms):.2f}",
            f"{proof_p50 / statistics.median(read_ms):.0f}x",
            "< 20 ms",
        ),
        (
            f"consistency proof {first.size:,} -> {checkpoint.size:,} (ms)",
            f"{consistency_ms:.1f}",
            "",
            "",
            "",
        ),
    ]
    print(table(rows, ("figure", "measured", "baseline, same run", "ratio", "target")))
    for line in append_lines:
        print(line)
    print(f"verify: {listed(verify_rates)}; raw SHA-256 {listed(baselines)}")
    print(f"{VERIFY_EVENTS:,} events generated in {generated:.1f} s; a checkpoint over them signed in {signing:.1f} s")


def listed(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


if __name__ == "__main__":
    main()
