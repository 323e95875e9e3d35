"""The one function that decrypts clip audio.

Only the delivery to the reviewer holding the clip's lease and a subject's own export may import
this module (an import-linter contract in make lint holds that); both decide access first.
"""

from __future__ import annotations

from collections.abc import Iterator

from apps.clips.blobs import blob_open
from apps.clips.models import Clip
from apps.clips.services import CLIP_KIND, clip_storage
from apps.common.keys import key_provider
from reviewsvc.crypto import envelope
from reviewsvc.errors import ServiceError


def clip_audio_chunks(
    *, clip: Clip, start: int = 0, stop: int | None = None, subject_id: str | None = None
) -> Iterator[bytes]:
    """Decrypted audio of ``clip`` in ``[start, stop)``, one authenticated segment at a time.

    Callers are the delivery to a leasing reviewer and a subject's own export; both check
    access first. A shredded clip has no key left to open it. The export passes the
    ``subject_id`` it exports: the associated data then names that subject, so a clip of anyone
    else fails to decrypt.
    """
    if clip.wrapped_key is None or not clip.blob_name:
        raise ServiceError("clip_gone")
    with blob_open(clip_storage(), clip.blob_name) as source:
        yield from envelope.open_range(
            source,
            provider=key_provider(),
            wrapped_key=bytes(clip.wrapped_key),
            kind=CLIP_KIND,
            object_id=str(clip.id),
            subject_id=subject_id or clip.subject_id,
            start=start,
            stop=stop,
            expected_size=clip.size_bytes,
        )
