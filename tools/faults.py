"""make faults: the service under injected faults, then the invariants that must have held.

Everything runs on loopback, on free ports, in a temporary folder, and stops by itself:
its own PostgreSQL cluster (initdb) and redis-server (never the machine's shared ones), the web
server with two workers, a Celery worker with beat, and the outbox relay loop. While a reviewer loop,
an ingest loop and a privacy loop (opt-outs, deletions, exports) send requests, it stops and
starts Redis, kills and restarts the Celery worker, kills one web worker, restarts
PostgreSQL, and fills the blob storage (a size-capped tmpfs) to ENOSPC. Then it lets the outbox
drain and the access log's sealer catch up, and checks: every clip readable or deliberately
shredded, every committed opt-out in force, no orphan blob past the grace period, no double
lease, the access log verifies, every answer a success or a contract error, and no 500 for a
change that committed.
It prints a table; the exit status is 0 only if every invariant held.
"""

from __future__ import annotations

import collections
import contextlib
import http.cookiejar
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
TIME_LIMIT_SECONDS = 420
GRACE_SECONDS = 5
STORAGE_MB = 24
SUBJECTS = 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {seconds} s")


def as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; the cluster belongs to the postgres user then.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    def __init__(self, base: Path) -> None:
        self.data = base / "pg"
        self.port = free_port()
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run(
            as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]),
            check=True,
            capture_output=True,
        )

    def ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", str(self.data / "log")]
            )
            + list(args),
            check=True,
            capture_output=True,
        )

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/reviewsvc"

    def create_database(self) -> None:
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "reviewsvc"],
            check=True,
        )


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", self.port), 0.5).close() or True, seconds=10, what="redis"
        )

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Service:
    """The web server (config/server.py), the Celery worker with beat, and the outbox relay loop."""

    def __init__(self, base: Path, env: dict) -> None:
        self.base, self.env = base, env
        self.port = free_port()
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.relay: subprocess.Popen | None = None

    def log(self, name: str):
        return open(self.base / f"{name}.log", "ab")  # noqa: SIM115

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [str(BIN / "python"), "-m", "config.server", "--port", str(self.port), "--workers", "2"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("web"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: urllib.request.urlopen(f"{self.url}/healthz", timeout=2).status == 200, seconds=30, what="web")

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", "--beat", "--concurrency=2", "--loglevel=WARNING"]
            + [f"--schedule={self.base / 'beat-schedule'}"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("worker"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_relay(self) -> None:
        self.relay = subprocess.Popen(
            [str(BIN / "python"), "manage.py", "outbox_relay", "--loop", "--interval", "1"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("relay"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def web_workers(self) -> list[int]:
        assert self.web
        children = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        # Each runs in a process group of its own: its children (the server's and Celery's workers,
        # beat) go with it, also those a SIGKILLed parent left behind.
        for process in (self.web, self.worker, self.relay):
            if process:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in (self.web, self.worker, self.relay):
            if process:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    pass
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


# What is being done to the service right now, for the report of each 5xx.
PHASE = ["warm-up"]


class Tally:
    """Every answer the loops got: status codes, error codes, and what a 5xx was answered to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.by_code: collections.Counter[str] = collections.Counter()
        self.unshaped: list[str] = []
        self.server_errors: list[tuple[str, int]] = []

    def note(self, what: str, status: int, body: bytes) -> None:
        with self.lock:
            self.requests += 1
            if status == 0:
                self.by_code["connection dropped"] += 1
                return
            if status < 400:
                self.by_code[f"{status}"] += 1
                return
            try:
                code = json.loads(body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "?"
                self.unshaped.append(f"{what} {status} {body[:80]!r}")
            self.by_code[f"{status} {code}"] += 1
            if status >= 500:
                self.server_errors.append((f"{what} during {PHASE[0]}", status))


class Client:
    def __init__(self, base_url: str, tally: Tally, *, api_key: str | None = None) -> None:
        self.base_url, self.tally, self.api_key = base_url, tally, api_key
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def call(self, method: str, path: str, *, body: bytes | None = None, content_type: str = "application/json"):
        headers = {"Content-Type": content_type, "X-CSRFToken": self.csrf()}
        if self.api_key:
            headers["Authorization"] = f"Api-Key {self.api_key}"
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=20) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        except (OSError, http.client.HTTPException):
            status, data = 0, b""
        self.tally.note(f"{method} {path.split('/')[3] if path.count('/') > 2 else path}", status, data)
        return status, data

    def json(self, method: str, path: str, payload: dict | None = None):
        return self.call(method, path, body=json.dumps(payload).encode() if payload is not None else None)


def multipart(fields: dict[str, str], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
    )
    out.write(audio + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def setup_django(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed() -> dict:
    """A loopback facility, one enrolled reviewer, one API key with every scope."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.accounts.models import EncryptedTOTPDevice, Invite
    from apps.accounts.services import (
        api_key_create,
        hash_invite_token,
        invite_accept,
        invite_confirm,
        reviewer_invite,
    )
    from apps.common.context import RequestContext
    from apps.facilities.services import facility_create
    from reviewsvc.net import parse_address

    context = RequestContext.system("faults")
    facility_create(name="Faults", country="DE", networks=["127.0.0.0/8"], regions=["EU"], context=context)
    email, password = "faults@reviewer.example", "a long faults password 1"
    _, url = reviewer_invite(
        email=email,
        facility_name="Faults",
        languages=["de-DE"],
        vetted_until=timezone.localdate() + timedelta(days=30),
        context=context,
    )
    token = url.split("#", 1)[1]  # the link is …/invite/#<token>
    address = parse_address("127.0.0.1")
    invite_accept(token=token, password=password, client_address=address, context=context)
    user = Invite.objects.get(token_hash=hash_invite_token(token)).user
    device = EncryptedTOTPDevice.objects.get(user=user, confirmed=False)
    invite_confirm(token=token, otp=totp_code(device, 0), client_address=address, context=context)
    _, secret = api_key_create(name="faults", scopes=["clips:ingest", "subjects:manage"], context=context)
    # The next time step's code: the one used to confirm may not be used again.
    return {"email": email, "password": password, "otp": totp_code(device, 1), "api_key": secret}


def totp_code(device, steps: int) -> str:
    from django_otp.oath import TOTP

    from apps.accounts.models import TOTP_DIGITS, TOTP_STEP

    totp = TOTP(device.bin_key, TOTP_STEP, 0, TOTP_DIGITS, steps)
    totp.time = time.time()
    return f"{totp.token():0{TOTP_DIGITS}d}"


def wav(seconds: float = 0.3) -> bytes:
    import math
    import struct
    import wave

    rate = 8000
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(i / 5))) for i in range(int(seconds * rate))))
    return buffer.getvalue()


class Loops:
    """The load: a reviewer, an ingest client and a privacy client, each in its own thread."""

    def __init__(self, url: str, seeded: dict, tally: Tally) -> None:
        self.stop = threading.Event()
        self.tally = tally
        self.reviewer = Client(url, tally)
        self.service = Client(url, tally, api_key=seeded["api_key"])
        self.seeded = seeded
        self.opted_out: set[str] = set()
        self.opt_out_errors: list[str] = []
        self.audio = wav()
        self.recipient = recipient_key()
        self.threads = [threading.Thread(target=t, daemon=True) for t in (self.review, self.ingest, self.privacy)]

    def start(self) -> None:
        self.reviewer.call("GET", "/api/v1/auth/login")
        status, body = self.reviewer.json(
            "POST",
            "/api/v1/auth/login",
            {"username": self.seeded["email"], "password": self.seeded["password"], "otp": self.seeded["otp"]},
        )
        if status != 200:
            raise RuntimeError(f"the reviewer could not log in: {status} {body[:200]!r}")
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def review(self) -> None:
        while not self.stop.is_set():
            status, body = self.reviewer.json("POST", "/api/v1/review/next")
            if status != 200:
                time.sleep(0.2)
                continue
            lease = json.loads(body)
            self.reviewer.call("GET", lease["audio_url"])
            flags = ["accidental_activation"] if hash(lease["assignment"]) % 5 == 0 else []
            self.reviewer.json(
                "POST",
                f"/api/v1/review/assignments/{lease['assignment']}/transcript",
                {"text": "hallo", "flags": flags},
            )

    def ingest(self) -> None:
        index = 0
        while not self.stop.is_set():
            index += 1
            fields = {"subject_id": f"subject-{index % SUBJECTS}", "language": "de-DE", "region": "EU"}
            body, content_type = multipart(fields, self.audio)
            self.service.call("POST", "/api/v1/clips", body=body, content_type=content_type)
            time.sleep(0.05)

    def privacy(self) -> None:
        index = 0
        while not self.stop.is_set():
            index += 1
            kind = index % 3
            # Subjects 0-3 opt out, 4-7 are deleted, 8-11 export.
            subject = f"subject-{kind * 4 + index % 4}"
            if kind == 0:
                status, _ = self.service.call("PUT", f"/api/v1/subjects/{subject}/opt-out")
                if status == 200:
                    self.opted_out.add(subject)
                elif status >= 500:
                    self.opt_out_errors.append(subject)
            elif kind == 1:
                self.service.call("DELETE", f"/api/v1/subjects/{subject}/clips")
            else:
                payload = {"recipient_public_key": self.recipient}
                self.service.json("POST", f"/api/v1/subjects/{subject}/exports", payload)
            time.sleep(0.3)


def recipient_key() -> str:
    import base64

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


class Faults:
    def __init__(self, pg: Postgres, redis: Redis, service: Service, storage: Path, tmpfs: bool) -> None:
        self.pg, self.redis, self.service, self.storage, self.tmpfs = pg, redis, service, storage, tmpfs
        self.injected: list[str] = []
        self.readyz_down: set[str] = set()

    def readyz(self) -> None:
        with contextlib.suppress(Exception):
            urllib.request.urlopen(f"{self.service.url}/readyz", timeout=5)  # noqa: S310
            return
        with contextlib.suppress(Exception):
            try:
                urllib.request.urlopen(f"{self.service.url}/readyz", timeout=5)  # noqa: S310
            except urllib.error.HTTPError as error:
                self.readyz_down |= set(json.loads(error.read())["down"])

    def fault(self, name: str) -> None:
        PHASE[0] = name
        self.injected.append(name)

    def run(self) -> None:
        time.sleep(4)
        self.fault("Redis stopped for 5 s, started again")
        self.redis.stop()
        time.sleep(1)
        self.readyz()
        time.sleep(4)
        self.redis.start()
        time.sleep(3)

        self.fault("Celery worker (with beat) SIGKILLed, restarted after 3 s")
        if self.service.worker:
            # The whole group, as a crashed container goes: the main process, its pool and beat.
            os.killpg(self.service.worker.pid, signal.SIGKILL)
            self.service.worker.wait(10)
        time.sleep(3)
        self.service.start_worker()
        time.sleep(3)

        self.fault("one of two web workers SIGKILLed (the server starts another)")
        os.kill(self.service.web_workers()[0], signal.SIGKILL)
        time.sleep(4)

        self.fault("PostgreSQL restarted (fast shutdown: open connections cut)")
        self.pg.ctl("restart", "-m", "fast")
        time.sleep(5)

        if self.tmpfs:
            self.fault(f"blob storage (tmpfs, {STORAGE_MB} MB) filled to ENOSPC for 5 s")
            filler = self.storage / "filler"
            with open(filler, "wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(bytes(1 << 20))
                    out.flush()
            time.sleep(5)
            filler.unlink()
        PHASE[0] = "recovery"
        time.sleep(3)


def drain(seconds: float) -> bool:
    """Wait until the outbox is empty, no export is still pending and every event is sealed."""
    from django.db import close_old_connections

    from apps.audit.models import PendingEvent
    from apps.common.models import OutboxMessage
    from apps.privacy.models import Export, ExportStatus

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        close_old_connections()
        try:
            if (
                not OutboxMessage.objects.exists()
                and not Export.objects.filter(status=ExportStatus.PENDING).exists()
                and not PendingEvent.objects.exists()
            ):
                return True
        except Exception:  # noqa: S110
            pass
        time.sleep(1)
    return False


def invariants(loops: Loops, tally: Tally, faults: Faults, drained: bool) -> list[tuple[str, bool, str]]:
    from django.core.files.storage import storages
    from django.db import connection
    from django.db.models import Count

    from apps.audit.selectors import audit_log_verify
    from apps.clips.audio import clip_audio_chunks
    from apps.clips.models import Clip, Subject
    from apps.clips.services import blobs_orphans_sweep
    from apps.common.models import OutboxMessage
    from apps.privacy.models import Export
    from apps.reviews.models import Assignment

    connection.close()
    results = []
    unreadable = []
    clips = list(Clip.objects.all())
    for clip in clips:
        if clip.wrapped_key is None:
            continue
        try:
            for _ in clip_audio_chunks(clip=clip):
                pass
        except Exception as exc:
            unreadable.append(f"{clip.pk}: {type(exc).__name__}")
    shredded = sum(1 for clip in clips if clip.wrapped_key is None)
    results.append(
        (
            "every clip readable or deliberately shredded",
            not unreadable,
            f"{len(clips) - shredded} readable, {shredded} shredded"
            + (f"; unreadable {unreadable[:3]}" if unreadable else ""),
        )
    )

    broken = [
        s.subject_id
        for s in Subject.objects.filter(subject_id__in=loops.opted_out)
        if not s.opted_out or Clip.objects.filter(subject=s, status__in=["queued", "assigned"]).exists()
    ]
    results.append(
        ("every committed opt-out in force", not broken, f"{len(loops.opted_out)} subjects opted out; broken {broken}")
    )

    time.sleep(GRACE_SECONDS + 1)
    removed = blobs_orphans_sweep()
    storage = storages["clips"]
    referenced = set(Clip.objects.exclude(blob_name="").values_list("blob_name", flat=True))
    referenced |= set(Export.objects.exclude(blob_name="").values_list("blob_name", flat=True))
    stored = set()
    pending = [""]
    while pending:
        folder = pending.pop()
        dirs, files = storage.listdir(folder)
        stored |= {f"{folder}/{name}" if folder else name for name in files}
        pending += [f"{folder}/{name}" if folder else name for name in dirs]
    orphans = stored - referenced
    unswept = Clip.objects.filter(wrapped_key__isnull=True).exclude(blob_name="").count()
    results.append(
        (
            "no orphan blob past the grace period",
            not orphans and not unswept,
            f"sweep removed {removed} leftovers (partial writes under ENOSPC, killed requests); "
            f"{len(orphans)} orphans, "
            f"{unswept} shredded clips with files left",
        )
    )

    doubled = Assignment.objects.filter(status="active").values("clip").annotate(n=Count("id")).filter(n__gt=1).count()
    results.append(
        ("no double lease", doubled == 0, f"{Assignment.objects.count()} leases, {doubled} clips leased twice")
    )

    verified = audit_log_verify()
    results.append(("the access log verifies", bool(verified.ok), f"{verified.entries} events"))

    results.append(
        ("every answer a success or a contract error", not tally.unshaped, f"unshaped: {tally.unshaped[:3]}")
    )
    committed_500 = [
        subject
        for subject in loops.opt_out_errors
        if Subject.objects.filter(subject_id=subject, opted_out=True).exists() and subject not in loops.opted_out
    ]
    results.append(
        (
            "no 500 for a committed change",
            not committed_500 and tally.by_code.get("500 internal_error", 0) == 0,
            f"5xx answers: {len(tally.server_errors)}; opt-outs answered 5xx yet committed: {committed_500}",
        )
    )
    waiting = f"{OutboxMessage.objects.count()} outbox messages, {Export.objects.filter(status='pending').count()}"
    results.append(
        ("follow-up work finished after the faults (outbox, exports, sealing)", drained, f"{waiting} exports pending")
    )
    results.append(
        (
            "/readyz named what was down",
            "broker" in faults.readyz_down,
            f"down while Redis was stopped: {sorted(faults.readyz_down)}",
        )
    )
    return results


def table(faults: Faults, tally: Tally, results, seconds: float) -> str:
    lines = ["| Faults injected | |", "|---|---|"]
    lines += [f"| {i + 1} | {what} |" for i, what in enumerate(faults.injected)]
    lines += ["", f"| Requests sent | {tally.requests} in {seconds:.0f} s |", "|---|---|"]
    lines += [f"| {code} | {count} |" for code, count in sorted(tally.by_code.items())]
    lines += ["", "| 5xx answers: call, during | count |", "|---|---|"]
    lines += [f"| {what} | {n} |" for what, n in collections.Counter(w for w, _ in tally.server_errors).most_common()]
    lines += ["", "| Invariant | Held | |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'NO'} | {detail} |" for name, ok, detail in results]
    return "\n".join(lines)


def main() -> int:
    if not (PG_BIN / "initdb").exists() or not shutil.which("redis-server"):
        print(f"faults: needs PostgreSQL 15 server binaries in {PG_BIN} and redis-server", file=sys.stderr)
        return 2
    started = time.monotonic()
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("faults ran too long")))
    signal.alarm(TIME_LIMIT_SECONDS)
    base = Path(tempfile.mkdtemp(prefix="reviewsvc-faults-"))
    base.chmod(0o755)
    storage = base / "blobs"
    storage.mkdir(mode=0o700)
    tmpfs = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={STORAGE_MB}m,mode=0700", "tmpfs", str(storage)], capture_output=True
        ).returncode
        == 0
    )
    if not tmpfs:
        print("faults: cannot mount a tmpfs here; the ENOSPC fault is left out", file=sys.stderr)
    pg = Postgres(base)
    redis = Redis()
    service = None
    try:
        pg.ctl("start")
        pg.create_database()
        redis.start()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "REVIEWSVC_VAR_DIR": str(base / "var"),
            "DATABASE_URL": pg.url(),
            "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "REVIEWSVC_STORAGE": str(storage),
            "REVIEWSVC_ORPHAN_BLOB_GRACE_SECONDS": str(GRACE_SECONDS),
            "REVIEWSVC_LEASES_PER_HOUR": "100000",
            "REVIEWSVC_AUDIO_REQUESTS_PER_HOUR": "100000",
            "REVIEWSVC_ALERT_DENIALS": "0",
            "REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS": "10",
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        setup_django(env)
        seeded = seed()
        service = Service(base, env)
        service.start_web()
        service.start_worker()
        service.start_relay()
        tally = Tally()
        loops = Loops(service.url, seeded, tally)
        loops.start()
        faults = Faults(pg, redis, service, storage, tmpfs)
        faults.run()
        time.sleep(3)
        loops.join()
        drained = drain(100)
        results = invariants(loops, tally, faults, drained)
        print(table(faults, tally, results, time.monotonic() - started))
        return 0 if all(ok for _, ok, _ in results) else 1
    finally:
        signal.alarm(0)
        if service:
            service.stop()
        redis.stop()
        with contextlib.suppress(Exception):
            pg.ctl("stop", "-m", "immediate")
        if tmpfs:
            subprocess.run(["umount", str(storage)], check=False)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
