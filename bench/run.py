"""`make bench`: runs every bench/bench_*.py in turn and prints their tables.

Benchmarks that need PostgreSQL read BENCH_DATABASE_URL (default: the local server's
`reviewsvc_bench` database, created if missing). Each bench stops by itself and sends load only
to 127.0.0.1. bench_cluster (one web node vs two behind nginx, S3 vs a folder) needs SeaweedFS's
weed, nginx and SoftHSM2, and says which is missing instead of running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(selected: list[str]) -> int:
    benches = sorted(HERE.glob("bench_*.py"))
    if selected:
        benches = [b for b in benches if any(name in b.stem for name in selected)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    failed = []
    for bench in benches:
        print(f"\n=== {bench.stem} ===", flush=True)
        result = subprocess.run([sys.executable, str(bench)], cwd=ROOT, env=env)
        if result.returncode:
            failed.append(bench.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
