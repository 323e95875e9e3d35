"""Several nodes: the reviewer loop through nginx on one node vs two, and ingest to S3 vs a folder.

The stack of tools/cluster.py (SeaweedFS with S3, a SoftHSM2 token, a throwaway database on the
local PostgreSQL, a Celery worker on Redis, nginx in front of two web nodes (config/server.py)
with 2 workers each, both on S3 and the pkcs11 keys), plus a third node, "folder", whose blobs are in a
local folder. Every request goes through nginx. In one run:

1. Ingest: BENCH_CLUSTER_CLIPS (400) clips of 64 KiB per store, 4 clients, to node a (S3,
   SeaweedFS) and to node "folder", in alternating rounds of 100. The S3 clips feed the loop,
   topped up (unmeasured) to 60 per second of loop phases.
2. The reviewer loop (next -> the whole audio -> transcript), 8 reviewers, each its own session
   signed in through the invite flow: BENCH_CLUSTER_SECONDS (15) through nginx's port pinned to
   node a, as long through the port balancing nodes a and b round robin, and node a again. Loops/s, and the
   CPU seconds of the database (the backends connected to the bench database, listed from
   pg_stat_activity every 0.2 s, their ticks from /proc), of the web nodes, and of the rest of the stack (nginx,
   SeaweedFS, the worker, the relay): the database's share is of the stack's CPU, the load
   generator (this process) left out. Expect little
   gain on two cores; what the figure shows is that nothing serialises across nodes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_reviews import wav_of_size  # noqa: E402
from bench.common import percentile, table  # noqa: E402
from tools.cluster import (  # noqa: E402
    Client,
    Run,
    Tally,
    database,
    enrol_and_sign_in,
    ingest,
    make_token,
    missing_components,
    seed,
    start_stack,
    stop_on_signals,
    weed_server,
)

CLIPS = int(os.environ.get("BENCH_CLUSTER_CLIPS", "400"))
SECONDS = float(os.environ.get("BENCH_CLUSTER_SECONDS", "15"))
ROUND = 100
TIME_LIMIT_SECONDS = 600
INGEST_CLIENTS = 4
CLIP_BYTES = 64 * 1024
TICKS = os.sysconf("SC_CLK_TCK")
# One node on both sides of two: the machine's other load drifts during a run.
PHASES = (
    ("one node (nginx -> node a)", "a"),
    ("two nodes (nginx round robin)", "lb"),
    ("one node again", "a"),
)


def ticks_by_process() -> dict[int, tuple[int, int]]:
    """pid -> (process group, user + system ticks so far), for every process on the machine."""
    seen = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, pgrp, ...; utime and stime are the 12th and 13th.
        seen[int(stat.parent.name)] = (int(fields[2]), int(fields[11]) + int(fields[12]))
    return seen


class CpuMeter:
    """CPU seconds of the database's backends, the web nodes and the rest of the stack, over a phase."""

    def __init__(self, run: Run, database_name: str, nodes: list[str]) -> None:
        self.database_name = database_name
        self.groups = {process.pid: ("nodes" if name.removeprefix("node ") in nodes else "rest")
                       for name, process in run.processes.started}  # fmt: skip
        # SeaweedFS runs in a process group of its own, started by tests/seaweedfs.py.
        marker = str(run.base / "seaweedfs").encode()
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                if marker in cmdline.read_bytes():
                    self.groups[int(cmdline.parent.name)] = "rest"

    def backends(self, conn) -> set[int]:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database_name])
        return {pid for (pid,) in rows}

    def measure(self, phase):
        """Run ``phase()``; its result and the CPU seconds spent meanwhile, by kind.

        Backends come and go (persistent connections are renewed after 60 s), so they are listed
        every 0.2 s: a backend's ticks count from its first sighting (from 0 if it began in the
        phase) to its last; what one that ended did after its last sighting is lost.
        """
        import psycopg

        from tools.cluster import admin_url

        before = ticks_by_process()
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        done = threading.Event()

        def watch() -> None:
            with psycopg.connect(admin_url(), autocommit=True) as conn:
                while True:
                    finished = done.is_set()
                    for pid in self.backends(conn):
                        ticks = backend_ticks(pid)
                        if ticks is not None:
                            first.setdefault(pid, before[pid][1] if pid in before else 0)
                            last[pid] = ticks
                    if finished:
                        return
                    time.sleep(0.2)

        watcher = threading.Thread(target=watch)
        watcher.start()
        result = phase()
        done.set()
        watcher.join()
        after = ticks_by_process()
        spent: Counter[str] = Counter({"database": sum(last[pid] - first[pid] for pid in last)})
        for pid, (group, ticks) in after.items():
            if group in self.groups and pid not in last:
                spent[self.groups[group]] += ticks - before.get(pid, (group, 0))[1]
        return result, Counter({kind: ticks / TICKS for kind, ticks in spent.items()})


def backend_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def ingest_round(client: Client, audio: bytes, *, via: str, language: str, count: int) -> tuple[float, list[float]]:
    """``count`` clips from INGEST_CLIENTS threads; (elapsed seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    tickets = iter(range(count))

    def send() -> None:
        for index in tickets:
            started = time.perf_counter()
            clip = ingest(client, f"subject-{index % 10}", audio, via=via, language=language)
            if clip is None:
                raise SystemExit(f"ingest through {via} failed")
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=send) for _ in range(INGEST_CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def reviewer_loops(reviewers: list[Client], *, via: str, seconds: float) -> tuple[int, float, list[float], int]:
    """Every reviewer loops for ``seconds``; (loops, elapsed, loop latencies, times the queue was empty)."""
    latencies: list[float] = []
    empty = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(client: Client) -> None:
        nonlocal empty
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, lease, _ = client.json("POST", "/api/v1/review/next", via=via)
            if status != 200:
                with lock:
                    empty += 1
                time.sleep(0.1)
                continue
            client.call("GET", urllib.parse.urlsplit(lease["audio_url"]).path, via=via)
            path = f"/api/v1/review/assignments/{lease['assignment']}/transcript"
            status, _, _ = client.json("POST", path, {"text": "hallo welt", "flags": []}, via=via)
            if status == 201:
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=loop, args=(client,)) for client in reviewers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), time.perf_counter() - started, latencies, empty


def bench(base: Path, database_name: str, database_url: str, redis_url: str) -> None:
    run = Run(base)
    token = make_token(base / "softhsm", label="reviewsvc-bench-cluster")
    (base / "seaweedfs").mkdir()
    folder = base / "folder-blobs"
    folder.mkdir(mode=0o700)
    with weed_server(base / "seaweedfs") as store:
        try:
            urls = start_stack(
                run, store, token, database_url, redis_url, more_nodes={"folder": {"REVIEWSVC_STORAGE": str(folder)}}
            )
            tally = Tally()
            seeded = seed("bench/bench_cluster.py")
            service = Client(urls, tally, api_key=seeded["api_key"])
            audio = wav_of_size(CLIP_BYTES)
            ingested: dict[str, list[float]] = {"a": [], "folder": []}
            elapsed: Counter[str] = Counter()
            for _ in range(max(1, CLIPS // ROUND)):
                # The folder node's clips are in a language no reviewer takes: they stay out of the loop.
                for via, language in (("a", "de-DE"), ("folder", "fr-FR")):
                    seconds, latencies = ingest_round(service, audio, via=via, language=language, count=ROUND)
                    elapsed[via] += seconds
                    ingested[via] += latencies
            # Enough queued clips that neither phase runs dry (the "queue empty" column says if one did).
            ingest_round(
                service, audio, via="lb", language="de-DE", count=max(0, int(60 * len(PHASES) * SECONDS) - CLIPS)
            )
            reviewers = []
            for email, url in seeded["invites"].items():
                client = Client(urls, tally)
                enrol_and_sign_in(client, url, email)
                reviewers.append(client)
            meter = CpuMeter(run, database_name, ["a", "b"])
            loops = {}
            for label, via in PHASES:
                result, cpu = meter.measure(lambda via=via: reviewer_loops(reviewers, via=via, seconds=SECONDS))
                loops[label] = (*result, cpu)
        finally:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            run.processes.stop()
    rows = []
    for label, (count, seconds, latencies, empty, cpu) in loops.items():
        stack = sum(cpu.values())
        rows.append(
            (
                label,
                f"{count / seconds:.1f}",
                f"{percentile(latencies, 50) * 1000:.0f}" if latencies else "-",
                str(empty),
                f"{cpu['database']:.1f}",
                f"{cpu['database'] * 1000 / count:.1f}" if count else "-",
                f"{cpu['nodes']:.1f}",
                f"{cpu['rest']:.1f}",
                f"{cpu['database'] / stack:.0%}" if stack else "-",
            )
        )
    header = ("reviewer loop, 8 reviewers", "loops/s", "p50 ms", "queue empty", "db CPU s", "db CPU ms/loop",
              "nodes CPU s", "rest CPU s", "db share")  # fmt: skip
    print(table(rows, header))
    print()
    rows = [
        (
            store,
            str(len(ingested[via])),
            f"{len(ingested[via]) / elapsed[via]:.1f}",
            f"{percentile(ingested[via], 50) * 1000:.0f}",
            f"{percentile(ingested[via], 99) * 1000:.0f}",
        )
        for store, via in (("local folder (node folder)", "folder"), ("S3, SeaweedFS (node a)", "a"))
    ]
    print(
        table(
            rows, (f"ingest {CLIP_BYTES // 1024} KiB clips, c={INGEST_CLIENTS}", "clips", "clips/s", "p50 ms", "p99 ms")
        )
    )
    if tally.server_errors:
        raise SystemExit(f"5xx answers: {tally.server_errors[:5]}")


def main() -> int:
    missing = missing_components()
    if missing:
        print("bench_cluster skipped: missing " + "; ".join(missing))
        return 0
    stop_on_signals(TIME_LIMIT_SECONDS)
    name = f"reviewsvc_bench_cluster_{os.getpid()}"
    redis_url = os.environ.get("BENCH_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/13")
    import redis

    broker = redis.Redis.from_url(redis_url)
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(prefix="reviewsvc-bench-cluster-", dir=shm if os.access(shm, os.W_OK) else None))
    try:
        broker.flushdb()
        bench(base, name, database(name), redis_url)
        return 0
    finally:
        signal.alarm(0)
        broker.flushdb()
        database(name, drop_only=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
