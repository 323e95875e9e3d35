"""Segmented AES-256-GCM (reviewsvc.crypto.streaming) against one-shot AES-256-GCM.

For a 320 KiB clip and a 5 MiB recording: encrypt (one preallocated blob) and streamed decrypt
(decrypt_range over a BytesIO, consuming every chunk), each as MB/s next to one call of
``AESGCM.encrypt``/``decrypt`` on the same buffer. Ratio = segmented / one-shot throughput; the
target is >= 0.8x. A second table shows streamed decryption for other segment sizes. A third
shows the key providers alone: unwraps (one per audio request), wraps (one per ingest), MACs and
signatures per second of the PKCS#11 provider on a SoftHSM2 token beside the local file provider.

Each figure is the best of 7 runs; the two sides of a row alternate run by run, so a noisy
neighbour hits both. Runs in about 10 s: ``python bench/bench_crypto.py``.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from bench.common import softhsm_env  # noqa: E402
from reviewsvc.crypto import streaming  # noqa: E402
from reviewsvc.crypto.keys import LocalKeyProvider  # noqa: E402

SIZES = {"320 KiB": 320 * 1024, "5 MiB": 5 * 1024 * 1024}
RUNS = 7
RUN_SECONDS = 0.08
KEY = AESGCM.generate_key(256)
AD = b"bench"


def iterations_for(operation: Callable[[], object]) -> int:
    start = time.perf_counter()
    operation()
    return max(3, int(RUN_SECONDS / max(time.perf_counter() - start, 1e-6)))


def best_pair(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Best seconds per call of each operation, measured in alternating runs."""
    count = iterations_for(first)
    best = [float("inf"), float("inf")]
    for _ in range(RUNS):
        for slot, operation in enumerate((first, second)):
            start = time.perf_counter()
            for _ in range(count):
                operation()
            best[slot] = min(best[slot], (time.perf_counter() - start) / count)
    return best[0], best[1]


def consume(blob: bytes) -> None:
    # BytesIO shares a bytes object's buffer, like a file's page cache: no copy of the blob here.
    for _ in streaming.decrypt_range(io.BytesIO(blob), key=KEY, associated_data=AD):
        pass


def row(label: str, size: int, one_shot: float, segmented: float) -> str:
    mb = size / 1e6
    return f"| {label:<26} | {mb / one_shot:>9,.0f} | {mb / segmented:>9,.0f} | {one_shot / segmented:>5.2f}x |"


HEADER = (
    "| operation                  | one-shot  | segmented | ratio  |\n"
    "| -------------------------- | --------- | --------- | ------ |"
)


def main() -> None:
    aead = AESGCM(KEY)
    nonce = os.urandom(12)
    print(f"segment size {streaming.SEGMENT_SIZE // 1024} KiB; MB/s, best of {RUNS} runs\n")
    print(HEADER)
    for name, size in SIZES.items():
        plaintext = os.urandom(size)
        one_shot, segmented = best_pair(
            partial(aead.encrypt, nonce, plaintext, AD),
            partial(streaming.encrypt, plaintext, key=KEY, associated_data=AD),
        )
        print(row(f"encrypt {name}", size, one_shot, segmented))
        blob = bytes(streaming.encrypt(plaintext, key=KEY, associated_data=AD))
        one_shot, segmented = best_pair(
            partial(aead.decrypt, nonce, aead.encrypt(nonce, plaintext, AD), AD), partial(consume, blob)
        )
        print(row(f"decrypt {name} (streamed)", size, one_shot, segmented))

    size = SIZES["5 MiB"]
    plaintext = os.urandom(size)
    one_shot_decrypt = partial(aead.decrypt, nonce, aead.encrypt(nonce, plaintext, AD), AD)
    print("\nstreamed decrypt of 5 MiB by segment size\n")
    print(HEADER)
    for segment_size in (16 * 1024, 32 * 1024, 64 * 1024, 128 * 1024, 256 * 1024):
        blob = bytes(streaming.encrypt(plaintext, key=KEY, associated_data=AD, segment_size=segment_size))
        one_shot, segmented = best_pair(one_shot_decrypt, partial(consume, blob))
        print(row(f"segments of {segment_size // 1024} KiB", size, one_shot, segmented))


def key_providers() -> None:
    hsm = softhsm_env()
    if hsm is None:
        return
    os.environ["SOFTHSM2_CONF"] = hsm["SOFTHSM2_CONF"]
    from reviewsvc.crypto.hsm import Pkcs11KeyProvider

    local = LocalKeyProvider(Path(tempfile.mkdtemp(prefix="reviewsvc-bench-keys-")) / "master.json")
    token = Pkcs11KeyProvider(
        module_path=hsm["REVIEWSVC_PKCS11_MODULE"],
        token_label=hsm["REVIEWSVC_PKCS11_TOKEN"],
        pin=hsm["REVIEWSVC_PKCS11_PIN"],
        create_if_missing=True,
    )
    context, data_key = b"clip 7 of subject 3", os.urandom(32)
    local_wrapped, token_wrapped = local.wrap(data_key, context=context), token.wrap(data_key, context=context)
    operations = {
        "unwrap (per audio request)": (
            partial(local.unwrap, local_wrapped, context=context),
            partial(token.unwrap, token_wrapped, context=context),
        ),
        "wrap (per ingest)": (
            partial(local.wrap, data_key, context=context),
            partial(token.wrap, data_key, context=context),
        ),
        "mac (per pseudonym)": (
            partial(local.mac, "subject", b"subject-42"),
            partial(token.mac, "subject", b"subject-42"),
        ),
        "sign (per checkpoint)": (partial(local.sign, b"checkpoint"), partial(token.sign, b"checkpoint")),
    }
    print("\nkey providers alone, one thread: operations/s, best of 7 runs (SoftHSM2 2.6 on tmpfs)\n")
    print("| operation                  | local file | pkcs11    | ratio  |")
    print("| -------------------------- | ---------- | --------- | ------ |")
    for name, (on_file, in_token) in operations.items():
        file_seconds, token_seconds = best_pair(on_file, in_token)
        ratio = file_seconds / token_seconds
        print(f"| {name:<26} | {1 / file_seconds:>10,.0f} | {1 / token_seconds:>9,.0f} | {ratio:>5.2f}x |")


if __name__ == "__main__":
    main()
    key_providers()
