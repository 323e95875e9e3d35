"""Fixtures every area shares: API clients, an ingest key, audio."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create
from apps.common.context import RequestContext
from tests.apps.audit.support import access_log_flushable_by_the_suite  # noqa: F401  (autouse: TRUNCATE trigger)

pytest_plugins = ["tests.personas", "tests.seaweedfs"]

ALL_SCOPES = ["clips:ingest", "subjects:manage", "transcripts:read"]


def make_wav(*, seconds: float = 1.0, rate: int = 16000, frequency: float = 440.0) -> bytes:
    """A mono 16-bit PCM sine, deterministic."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * i / rate))) for i in range(frames)
            )
        )
    return buffer.getvalue()


def ingest_clip(*, subject_id: str = "subject-1", language: str = "de-DE", region: str = "EU", seconds: float = 1.0):
    """One clip ingested through the service, as the system: for tests that need clips, not HTTP."""
    from apps.clips.services import clip_ingest

    return clip_ingest(
        audio=make_wav(seconds=seconds),
        subject_id=subject_id,
        language=language,
        region=region,
        activation="deliberate",
        captured_at=None,
        api_key=None,
        context=RequestContext.system("tests"),
    )


@pytest.fixture(autouse=True)
def var_per_test(settings, tmp_path):
    """Each test gets its own blob folder and master keys: "nothing was stored" means this test
    stored nothing, and a rotation in one test cannot shift another's key versions."""
    settings.REVIEWSVC_KEY_FILE = str(tmp_path / "keys" / "master-keys.json")
    # Checkpoint files outlive the test's rolled-back database: each test gets its own sink folder.
    settings.REVIEWSVC_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.REVIEWSVC_CHECKPOINT_STORAGES = []
    settings.STORAGES = {
        **settings.STORAGES,
        "clips": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs"), "file_permissions_mode": 0o600},
        },
    }


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
