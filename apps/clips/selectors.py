from __future__ import annotations

import uuid

from django.db.models import Count

from apps.clips.models import Clip, ClipStatus, Subject
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


def subject_clip_counts(*, subject_id: str) -> dict[str, int]:
    """How many clips of the subject are in each status, every status named (zero included)."""
    counts = dict.fromkeys(ClipStatus.values, 0)
    rows = Clip.objects.filter(subject_id=subject_id).values_list("status").annotate(n=Count("id"))
    for status, n in rows:
        counts[status] = n
    return counts
