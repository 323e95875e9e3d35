"""Ingest throughput: 1,000 ten-second 16 kHz WAV clips through HTTP under the shipped server.

Baseline, same run: a bare Django view that stores the same upload unencrypted through the
same storage, with no validation, no key and no event. Target: ingest >= 0.6x the baseline.
BENCH_BASELINE_TREE=<another checkout> serves that code's ingest too (a second server with the
same keys and API key, on the same database, or on a copy migrated back to its schema when its
migrations are older: bench/common.py, ``baseline_database``), in the same rounds. On PostgreSQL
``manage.py audit_sealer`` runs beside the servers, as deployed.
With SoftHSM2 installed (and BENCH_INGEST_PKCS11 not 0), ingest once more through a second
server whose keys are in a SoftHSM2 token (the pkcs11 provider: one C_Encrypt per clip). Every
path takes its turn in each of the rounds so a noisy neighbour hits all alike. Target: pkcs11
>= 0.9x local.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import math
import os
import struct
import sys
import time
import uuid
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    baseline_database,
    baseline_tree,
    bench_env,
    free_port,
    manage,
    percentile,
    run_load,
    sealer,
    shipped,
    softhsm_env,
    table,
)

CLIPS = int(os.environ.get("BENCH_INGEST_CLIPS", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_INGEST_CONCURRENCY", "4"))
PORT = free_port()
PKCS11_PORT = free_port()
BASELINE_TREE_PORT = free_port()
ROUNDS = 5


def ten_second_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(i / 7))) for i in range(160000)))
    return buffer.getvalue()


def multipart(audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in {"subject_id": "bench-subject", "language": "en-US", "region": "EU"}.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\n".encode()
        + audio
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def main() -> None:
    env = bench_env(settings_module="bench.ingest_settings", database="reviewsvc_bench_ingest")
    manage(env, "migrate", "--noinput")
    key = manage(env, "create_api_key", "bench", "--scope", "clips:ingest").split()[-1]
    body, content_type = multipart(ten_second_wav())

    def post(path: str, headers: dict[str, str]):
        def send(conn: http.client.HTTPConnection) -> bool:
            conn.request("POST", path, body=body, headers={"Content-Type": content_type, **headers})
            response = conn.getresponse()
            response.read()
            return response.status == 201

        return send

    hsm = softhsm_env() if os.environ.get("BENCH_INGEST_PKCS11", "1") != "0" else None
    hsm_env = {**env, **hsm} if hsm else None
    if hsm_env:
        manage(hsm_env, "create_master_keys")
    base_root = baseline_tree()
    base_env = baseline_database(env, base_root) if base_root else env
    auth = {"Authorization": f"Api-Key {key}"}
    # (name, port, path, headers): every side takes its turn in each round, so a noisy
    # neighbour hits all of them alike.
    sides = [
        ("baseline: bare view, unencrypted", PORT, "/bench/upload", {}),
        ("ingest: validate+encrypt+event", PORT, "/api/v1/clips", auth),
    ]
    if base_root:
        sides.append((f"ingest, baseline {base_root.name}", BASELINE_TREE_PORT, "/api/v1/clips", auth))
    if hsm_env:
        sides.append(("ingest, keys in SoftHSM2 (pkcs11)", PKCS11_PORT, "/api/v1/clips", auth))
    with contextlib.ExitStack() as stack:
        stack.enter_context(sealer(env))
        stack.enter_context(shipped(env, port=PORT))
        if base_root:
            # The same keys and API key: only the code differs.
            stack.enter_context(shipped(base_env, port=BASELINE_TREE_PORT, root=base_root))
        if hsm_env:
            stack.enter_context(shipped(hsm_env, port=PKCS11_PORT))
        # Warm every path (imports, connections) before measuring.
        for _, port, path, headers in sides:
            run_load(port=port, requests=20, concurrency=2, make_request=post(path, headers))
        totals = {name: [0.0, [], 0] for name, *_ in sides}
        for _ in range(ROUNDS):
            for name, port, path, headers in sides:
                started = time.perf_counter()
                _, latencies, failed = run_load(
                    port=port, requests=CLIPS // ROUNDS, concurrency=CONCURRENCY, make_request=post(path, headers)
                )
                totals[name][0] += time.perf_counter() - started
                totals[name][1] += latencies
                totals[name][2] += failed
    database = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
    size = len(body) // 1024
    print(f"{CLIPS} clips of 10 s 16 kHz WAV ({size} KiB), c={CONCURRENCY}, 2 workers as shipped, {database}")
    rates = {name: len(latencies) / seconds for name, (seconds, latencies, _) in totals.items()}
    base_rate = rates[sides[0][0]]
    this_rate = rates[sides[1][0]]
    rows = []
    for name, *_ in sides:
        _, latencies, failed = totals[name]
        rate = rates[name]
        if name == sides[0][0]:
            ratio = "1.00x"
        elif name == sides[1][0]:
            ratio = f"{rate / base_rate:.2f}x (target >= 0.6x)"
        elif "pkcs11" in name:
            ratio = f"{rate / base_rate:.2f}x; {rate / this_rate:.2f}x local (target >= 0.9x)"
        else:
            ratio = f"{rate / base_rate:.2f}x; this checkout {this_rate / rate:.2f}x of it"
        rows.append((name, f"{rate:.0f}", f"{percentile(latencies, 50) * 1000:.1f}", str(failed), ratio))
    print(table(rows, ("path", "clips/s", "p50 ms", "failed", "ratio")))


if __name__ == "__main__":
    main()
