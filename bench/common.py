"""Shared bench plumbing: a throwaway database, an app server on 127.0.0.1, a bounded HTTP load."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A port nothing listens on now, on loopback: benches never assume a fixed one is free."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_postgres_database(name: str) -> str | None:
    """Drop and create ``name`` on the local PostgreSQL; None when there is no server."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        print(f"(PostgreSQL unavailable: {exc}; using SQLite)")
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def bench_env(*, settings_module: str, database: str) -> dict[str, str]:
    var_dir = tempfile.mkdtemp(prefix="reviewsvc-bench-")
    Path(var_dir, "static").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "REVIEWSVC_VAR_DIR": var_dir,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    url = fresh_postgres_database(database)
    env["DATABASE_URL"] = url or f"sqlite:///{var_dir}/bench.sqlite3"
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def baseline_tree() -> Path | None:
    """BENCH_BASELINE_TREE: another checkout (a git worktree of an older commit, say) to serve
    beside this one in the same run (from the same database, or ``baseline_database``'s copy of
    it); None when unset."""
    tree = os.environ.get("BENCH_BASELINE_TREE", "")
    if not tree:
        return None
    path = Path(tree).resolve()
    if not (path / "config" / "wsgi.py").exists():
        raise SystemExit(f"BENCH_BASELINE_TREE={tree} is no reviewsvc checkout")
    return path


def _migrations(root: Path) -> dict[str, set[str]]:
    """Each app's migration names in the checkout at ``root`` (an app's directory is its label)."""
    return {
        directory.parent.name: {path.stem for path in directory.glob("[0-9][0-9][0-9][0-9]_*.py")}
        for directory in (root / "apps").glob("*/migrations")
    }


def baseline_database(env: dict[str, str], root: Path) -> dict[str, str]:
    """The environment to serve the checkout at ``root`` with: ``env`` itself when its migrations
    are this checkout's, else a copy of ``env``'s database (every row made so far) migrated back
    to ``root``'s schema by this checkout, which holds the reverse of each newer migration.

    So an older checkout is served with the same users, sessions, keys and clips, on the tables
    its own code expects. Call it with no connection open to the database (PostgreSQL copies a
    database only when nobody is connected to it)."""
    ours, theirs = _migrations(ROOT), _migrations(root)
    if ours == theirs:
        return env
    for app, names in theirs.items():
        if not names <= ours.get(app, set()):
            raise SystemExit(f"{root} has migrations of {app} that this checkout lacks: it cannot migrate to them")
    source = env["DATABASE_URL"]
    if source.startswith("sqlite:///"):
        copy = source.removesuffix(".sqlite3") + "-baseline.sqlite3"
        shutil.copyfile(source.removeprefix("sqlite:///"), copy.removeprefix("sqlite:///"))
    else:
        import psycopg

        name = source.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_baseline" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}_baseline" TEMPLATE "{name}"')
        copy = f"{source}_baseline"
    base_env = {**env, "DATABASE_URL": copy}
    for app in sorted(ours):
        if ours[app] - theirs.get(app, set()):
            manage(base_env, "migrate", app, max(theirs.get(app, ()), default="zero"), "--noinput")
    return base_env


@contextlib.contextmanager
def shipped(env: dict[str, str], *, port: int, workers: int = 2, root: Path = ROOT) -> Iterator[subprocess.Popen]:
    """The checkout at ``root`` served as it ships: config/server.py (granian), or, in a checkout
    from before it, gunicorn's sync workers with that checkout's config/gunicorn.conf.py. The
    access log goes to /dev/null, written as in production."""
    if (root / "config" / "server.py").exists():
        command = ["-m", "config.server", "--port", str(port), "--workers", str(workers)]
    else:
        command = ["-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--access-logfile", "-"]
    with _serving(command, env, port=port, root=root) as server:
        yield server


@contextlib.contextmanager
def sealer(env: dict[str, str]) -> Iterator[subprocess.Popen | None]:
    """``manage.py audit_sealer`` beside the servers on PostgreSQL, as a deployment runs it, so the
    run pays for sequencing and chaining its events too; nothing on SQLite, which seals inline."""
    if not env["DATABASE_URL"].startswith("postgres"):
        yield None
        return
    process = subprocess.Popen(
        [sys.executable, "manage.py", "audit_sealer"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], *, port: int, workers: int = 2, threads: int = 1, root: Path = ROOT
) -> Iterator[subprocess.Popen]:
    """gunicorn serving the checkout at ``root``: sync workers, or gthread ones when ``threads`` > 1
    (for the server comparison; the access log as the shipped server writes one)."""
    worker_class = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    command = ["-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--access-logfile", "-", "--log-level", "warning"]
    with _serving([*command, *worker_class], env, port=port, root=root) as server:
        yield server


@contextlib.contextmanager
def _serving(arguments: list[str], env: dict[str, str], *, port: int, root: Path) -> Iterator[subprocess.Popen]:
    server = subprocess.Popen(
        [sys.executable, *arguments], cwd=root, env={**env, "PYTHONPATH": str(root)}, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"{' '.join(arguments[:2])} did not come up")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_load(
    *, port: int, requests: int, concurrency: int, make_request: Callable[[http.client.HTTPConnection], int]
) -> tuple[float, list[float], int]:
    """Send ``requests`` requests from ``concurrency`` keep-alive clients; (req/s, latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in counter:
            started = time.perf_counter()
            ok = make_request(conn)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                failures += 0 if ok else 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return requests / elapsed, latencies, failures


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process now: pid -> (command name, parent pid, CPU ticks of it and of its children
    it has waited for). Linux /proc; a process gone between listing and reading is left out."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        # After the command: state, ppid, ..., utime, stime, cutime, cstime (the 12th to 15th).
        found[int(stat.parent.name)] = (name, int(fields[1]), sum(int(tick) for tick in fields[11:15]))
    return found


def postgresql_pids() -> list[int]:
    """The local PostgreSQL's postmaster: under it, every session, autovacuum and the WAL writer."""
    processes = _processes()
    return [
        pid
        for pid, (name, parent, _) in processes.items()
        if name == "postgres" and processes.get(parent, ("",))[0] != "postgres"
    ]


def cpu_seconds_of_trees(roots: dict[str, list[int]]) -> dict[str, float]:
    """User + system CPU seconds so far, per name, of its processes and everything under them:
    the live descendants' own and, through each process's account of its children, the ended
    ones'."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {}
    for label, pids in roots.items():
        pending, total = list(pids), 0
        while pending:
            pid = pending.pop()
            total += processes.get(pid, ("", 0, 0))[2]
            pending += children.get(pid, [])
        totals[label] = total / ticks
    return totals


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_env() -> dict[str, str] | None:
    """A throwaway SoftHSM2 token (tmpfs where there is one); the environment that selects it.

    None, with the reason printed, when SoftHSM2 or python-pkcs11 is missing.
    """
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        print("(python-pkcs11 is not installed: pkcs11 rows skipped)")
        return None
    if not Path(SOFTHSM_MODULE).exists():
        print("(SoftHSM2 is not installed: pkcs11 rows skipped; apt-get install softhsm2)")
        return None
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="reviewsvc-bench-hsm-", dir=shm if os.access(shm, os.W_OK) else None))
    atexit.register(shutil.rmtree, directory, True)
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )
    return {
        **env,
        "REVIEWSVC_KEY_PROVIDER": "pkcs11",
        "REVIEWSVC_PKCS11_MODULE": SOFTHSM_MODULE,
        "REVIEWSVC_PKCS11_TOKEN": "bench",
        "REVIEWSVC_PKCS11_PIN": "1234",
    }
