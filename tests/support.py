"""Helpers every area's tests share: the access log's events, a response's error code, WAV bytes,
clips in the queue, a reviewer's lease and the shipped server. One copy each; import them from here."""

from __future__ import annotations

import contextlib
import http.client
import io
import math
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

from apps.audit.models import AccessEvent
from apps.common.context import RequestContext

NEXT = "/api/v1/review/next"


# -- the access log ---------------------------------------------------------------------------
def events(action: str | None = None, **filters) -> list[AccessEvent]:
    """The log's events in order, of one action if named, filtered by field."""
    queryset = AccessEvent.objects.order_by("seq")
    if action:
        queryset = queryset.filter(action=action)
    return list(queryset.filter(**filters))


def last_event(action: str) -> AccessEvent:
    found = events(action)
    assert found, f"no {action} event"
    return found[-1]


def denied(action: str, reason: str) -> list[AccessEvent]:
    return events(action, outcome="denied", reason=reason)


# -- responses --------------------------------------------------------------------------------
def error_code(response) -> str:
    return response.json()["error"]["code"]


def body(response) -> bytes:
    """A streamed response's bytes."""
    return b"".join(response.streaming_content)


# -- audio ------------------------------------------------------------------------------------
def make_wav(
    *, seconds: float = 1.0, rate: int = 16_000, frequency: float = 440.0, channels: int = 1, width: int = 2
) -> bytes:
    """A PCM sine of ``width`` bytes a sample on every channel, deterministic."""
    peak = 12_000 * 256 ** (width - 2) if width >= 2 else 94  # about 37 % of full scale
    frames = bytearray()
    for i in range(round(seconds * rate)):
        value = int(peak * math.sin(2 * math.pi * frequency * i / rate))
        # 8-bit WAV samples are unsigned, wider ones signed little-endian.
        sample = bytes([value + 128]) if width == 1 else value.to_bytes(width, "little", signed=True)
        frames += sample * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


# -- clips and leases -------------------------------------------------------------------------
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


def lease_next(client) -> dict:
    """The reviewer's next lease, as ``POST /review/next`` answers it; there must be one."""
    response = client.post(NEXT)
    assert response.status_code == 200, response.content
    return response.json()


def transcript_submit(client, assignment: str, text: str = "hallo welt", flags: list[str] | None = None) -> None:
    response = client.post(
        f"/api/v1/review/assignments/{assignment}/transcript", {"text": text, "flags": flags or []}, format="json"
    )
    assert response.status_code == 201, response.content


def free_port() -> int:
    """A loopback port nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the shipped server -----------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def answers(port: int) -> bool:
    """Whether /healthz on ``port`` answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def shipped_server(
    env: dict[str, str], *, port: int, workers: int = 1, timeout: int | None = None, stdout=None, stderr=None
) -> Iterator[subprocess.Popen]:
    """``python -m config.server`` on ``port``, yielded once /healthz answers, stopped after."""
    command = [sys.executable, "-m", "config.server", "--port", str(port), "--workers", str(workers)]
    command += ["--timeout", str(timeout)] if timeout else []
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout or subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 30
        while not answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {port} did not come up (exit status {server.poll()})")
            time.sleep(0.2)
        yield server
    finally:
        if server.poll() is None:
            server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
