from __future__ import annotations

import uuid

from apps.clips.models import Clip, Subject
from reviewsvc.errors import ServiceError


def clip_get(*, clip_id: str | uuid.UUID) -> Clip:
    """A clip for the service client; a malformed id is as missing as an unknown one."""
    try:
        key = uuid.UUID(str(clip_id))
    except ValueError:
        raise ServiceError("not_found") from None
    clip = Clip.objects.filter(pk=key).first()
    if clip is None:
        raise ServiceError("not_found")
    return clip


def subject_is_opted_out(*, subject_id: str) -> bool:
    return Subject.objects.filter(subject_id=subject_id, opted_out=True).exists()
