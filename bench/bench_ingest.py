"""Ingest throughput: 1,000 ten-second 16 kHz WAV clips through HTTP under gunicorn.

Baseline, same run: a bare Django view that stores the same upload unencrypted through the
same storage, with no validation, no key and no event. Target: ingest >= 0.7x the baseline.
With SoftHSM2 installed, ingest once more through a second gunicorn whose keys are in a SoftHSM2
token (the pkcs11 provider: one C_Encrypt per clip); the two ingest paths alternate in rounds so a
noisy neighbour hits both. Target: pkcs11 >= 0.9x local.
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

from bench.common import bench_env, gunicorn, manage, percentile, run_load, softhsm_env, table  # noqa: E402

CLIPS = int(os.environ.get("BENCH_INGEST_CLIPS", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_INGEST_CONCURRENCY", "4"))
PORT = 8871
PKCS11_PORT = 8873
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

    hsm = softhsm_env()
    hsm_env = {**env, **hsm} if hsm else None
    if hsm_env:
        manage(hsm_env, "create_master_keys")
    auth = {"Authorization": f"Api-Key {key}"}
    with gunicorn(env, port=PORT), gunicorn(hsm_env, port=PKCS11_PORT) if hsm_env else contextlib.nullcontext():
        # Warm every path (imports, connections) before measuring.
        run_load(port=PORT, requests=20, concurrency=2, make_request=post("/bench/upload", {}))
        run_load(port=PORT, requests=20, concurrency=2, make_request=post("/api/v1/clips", auth))
        if hsm_env:
            run_load(port=PKCS11_PORT, requests=20, concurrency=2, make_request=post("/api/v1/clips", auth))
        base_rate, base_lat, base_fail = run_load(
            port=PORT, requests=CLIPS, concurrency=CONCURRENCY, make_request=post("/bench/upload", {})
        )
        sides = [PORT, PKCS11_PORT] if hsm_env else [PORT]
        totals = {port: [0.0, [], 0] for port in sides}
        for _ in range(ROUNDS):
            for port in sides:
                started = time.perf_counter()
                _, latencies, failed = run_load(
                    port=port,
                    requests=CLIPS // ROUNDS,
                    concurrency=CONCURRENCY,
                    make_request=post("/api/v1/clips", auth),
                )
                totals[port][0] += time.perf_counter() - started
                totals[port][1] += latencies
                totals[port][2] += failed
        rate, lat, fail = len(totals[PORT][1]) / totals[PORT][0], totals[PORT][1], totals[PORT][2]
    database = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
    size = len(body) // 1024
    print(f"{CLIPS} clips of 10 s 16 kHz WAV ({size} KiB), c={CONCURRENCY}, 2 gunicorn workers, {database}")
    rows = [
        ("baseline: bare view, unencrypted", base_rate, base_lat, base_fail, "1.00x"),
        ("ingest: validate+encrypt+event", rate, lat, fail, f"{rate / base_rate:.2f}x (target >= 0.7x)"),
    ]
    if hsm_env:
        seconds, hsm_lat, hsm_fail = totals[PKCS11_PORT]
        hsm_rate = len(hsm_lat) / seconds
        ratio = f"{hsm_rate / base_rate:.2f}x; {hsm_rate / rate:.2f}x local (target >= 0.9x)"
        rows.append(("ingest, keys in SoftHSM2 (pkcs11)", hsm_rate, hsm_lat, hsm_fail, ratio))
    print(
        table(
            [
                (name, f"{r:.0f}", f"{percentile(lats, 50) * 1000:.1f}", str(failed), ratio)
                for name, r, lats, failed, ratio in rows
            ],
            ("path", "clips/s", "p50 ms", "failed", "ratio"),
        )
    )


if __name__ == "__main__":
    main()
