"""Demo data for `make run`: an ingest key (printed once) and a few clips, ingested for real."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create
from apps.clips.models import Clip
from apps.clips.services import clip_ingest
from apps.common.context import RequestContext

DEMO_KEY_NAME = "demo-ingest"
DEMO_AUDIO_DIR = Path(__file__).parent / "demo_audio"
DEMO_SUBJECTS = ("demo-subject-1", "demo-subject-2")


def tone_wav(*, seconds: float, frequency: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(seconds * rate)
        out.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / rate))) for i in range(frames))
        )
    return buffer.getvalue()


def demo_clips() -> list[tuple[str, bytes]]:
    """(language, audio) pairs: the spoken fixtures named ``<language>-<n>.<ext>``, else tones."""
    spoken = sorted(p for p in DEMO_AUDIO_DIR.glob("*-*.*") if p.suffix in {".wav", ".flac", ".ogg", ".mp3"})
    if spoken:
        return [(path.name.rsplit("-", 1)[0], path.read_bytes()) for path in spoken]
    return [("en-US", tone_wav(seconds=2, frequency=f)) for f in (330.0, 440.0, 550.0)]


def seed_demo_clips(stdout) -> None:
    context = RequestContext.system("manage.py seed_demo")
    api_key = ApiKey.objects.filter(name=DEMO_KEY_NAME).first()
    if api_key is None:
        api_key, secret = api_key_create(
            name=DEMO_KEY_NAME, scopes=["clips:ingest", "subjects:manage", "transcripts:read"], context=context
        )
        stdout.write(f"Demo ingest API key (shown only now): {secret}")
    if Clip.objects.exists():
        return
    for index, (language, audio) in enumerate(demo_clips()):
        clip_ingest(
            audio=audio,
            subject_id=DEMO_SUBJECTS[index % len(DEMO_SUBJECTS)],
            language=language,
            region="EU",
            activation="deliberate",
            captured_at=None,
            api_key=api_key,
            context=context,
        )
    stdout.write(f"Ingested {Clip.objects.count()} demo clips.")
