"""Fixtures every area shares: API clients, an ingest key, audio."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create
from apps.common.context import RequestContext
from tests.apps.audit.support import access_log_flushable_by_the_suite  # noqa: F401  (autouse: TRUNCATE trigger)
from tests.support import make_wav

pytest_plugins = ["tests.personas", "tests.seaweedfs", "tests.softhsm"]

ALL_SCOPES = ["clips:ingest", "subjects:manage", "transcripts:read"]


def killed_midway(work: Callable[[], object]) -> None:
    """Run ``work`` in a forked process that SIGKILLs itself part way (``work`` patches where),
    like a worker killed by the OOM killer or a node lost; fails if it ran to the end."""
    from django.db import connections

    connections.close_all()
    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "the work finished instead of being killed"
    assert os.WTERMSIG(status) == signal.SIGKILL


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def retire_unused_key_versions() -> None:
    """The periodic re-wrap run once a rotation's grace period is over: unused versions go."""
    from apps.keys.services import wrapped_keys_rewrap

    grace = timedelta(seconds=settings.REVIEWSVC_KEY_RETIRE_GRACE_SECONDS + 1)
    with time_machine.travel(timezone.now() + grace):
        wrapped_keys_rewrap()


@pytest.fixture(autouse=True)
def var_per_test(request, settings, tmp_path, monkeypatch):
    """Each test gets its own blob folder and master keys: "nothing was stored" means this test
    stored nothing, and a rotation in one test cannot shift another's key versions. With the
    pkcs11 provider its keys are under a label prefix of its own, destroyed when it ends."""
    settings.REVIEWSVC_KEY_FILE = str(tmp_path / "keys" / "master-keys.json")
    # Checkpoint files outlive the test's rolled-back database: each test gets its own sink folder.
    settings.REVIEWSVC_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.REVIEWSVC_CHECKPOINT_STORAGES = []
    prefix = None
    if settings.REVIEWSVC_KEY_PROVIDER == "pkcs11":
        from tests.softhsm import destroy_prefix, new_prefix

        token = request.getfixturevalue("softhsm")
        prefix = new_prefix()
        settings.REVIEWSVC_PKCS11_MODULE = token.module
        settings.REVIEWSVC_PKCS11_TOKEN = token.label
        settings.REVIEWSVC_PKCS11_PIN = token.pin
        settings.REVIEWSVC_PKCS11_KEY_PREFIX = prefix
        # Processes a test starts (workers, racing writers) use the same keys.
        for name in ("MODULE", "TOKEN", "PIN", "KEY_PREFIX"):
            monkeypatch.setenv(f"REVIEWSVC_PKCS11_{name}", getattr(settings, f"REVIEWSVC_PKCS11_{name}"))
    settings.STORAGES = {
        **settings.STORAGES,
        "clips": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs"), "file_permissions_mode": 0o600},
        },
    }
    yield
    if prefix:
        destroy_prefix(token, prefix)


@pytest.fixture
def wav_bytes() -> bytes:
    return make_wav(seconds=1.0)


@pytest.fixture
def system_context() -> RequestContext:
    return RequestContext.system("tests")


@pytest.fixture
def api_key_secret(db) -> str:
    _, secret = api_key_create(name="product-backend", scopes=ALL_SCOPES, context=RequestContext.system("tests"))
    return secret


@pytest.fixture
def service_client(api_key_secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_secret}")
    return client


@pytest.fixture
def scoped_client(db):
    """``scoped_client("clips:ingest")``: a service client holding only the named scopes."""
    counter = iter(range(1000))

    def make(*scopes: str) -> APIClient:
        _, secret = api_key_create(
            name=f"scoped-{next(counter)}", scopes=list(scopes), context=RequestContext.system("tests")
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        return client

    return make


@pytest.fixture
def ingest(service_client):
    """``ingest(subject_id=..., language=..., region=...)`` posts a clip and returns the response."""

    def post(*, audio: bytes | None = None, **fields):
        data = {"subject_id": "subject-1", "language": "de-DE", "region": "EU", **fields}
        upload = io.BytesIO(audio if audio is not None else make_wav(seconds=1.0))
        upload.name = "clip.wav"
        return service_client.post("/api/v1/clips", {**data, "audio": upload}, format="multipart")

    return post


def on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


requires_postgres = pytest.mark.skipif(
    not on_postgres(), reason="needs PostgreSQL: set DATABASE_URL=postgres://... (runs in .ci/run)"
)
requires_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs Redis: set REDIS_URL=redis://... (runs in .ci/run)"
)
