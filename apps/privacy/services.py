"""The data subject's promises: opt-out holds from the moment the call returns."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import event_record
from apps.clips.models import Clip, ClipStatus
from apps.clips.services import clips_shred, subject_lock
from apps.common.context import RequestContext

WITHDRAWABLE = (ClipStatus.QUEUED, ClipStatus.ASSIGNED)


def ids_digest(ids) -> str:
    """One SHA-256 over the sorted ids: a bulk event names its clips without listing them."""
    digest = hashlib.sha256()
    for clip_id in sorted(str(i) for i in ids):
        digest.update(clip_id.encode() + b"\n")
    return digest.hexdigest()


def subject_opt_out(*, subject_id: str, context: RequestContext) -> int:
    """Opt the subject out of human review; returns how many clips were withdrawn.

    Under the subject's row lock: no ingest can queue a clip for them meanwhile.
    """
    with transaction.atomic():
        subject = subject_lock(subject_id=subject_id)
        if not subject.opted_out:
            subject.opted_out = True
            subject.opted_out_at = timezone.now()
            subject.save(update_fields=["opted_out", "opted_out_at"])
        withdrawable = Clip.objects.filter(subject=subject, status__in=WITHDRAWABLE)
        clip_ids = list(withdrawable.values_list("id", flat=True))
        if settings.REVIEWSVC_OPTOUT_KEEP_AUDIO:
            withdrawn = withdrawable.update(status=ClipStatus.WITHDRAWN, status_changed_at=timezone.now())
        else:
            withdrawn = clips_shred(clips=withdrawable, status=ClipStatus.WITHDRAWN)
        event_record(
            action="subject.opt_out",
            context=context,
            subject_id=subject_id,
            extra={"withdrawn": withdrawn, "clips_digest": ids_digest(clip_ids)},
        )
    return withdrawn


def subject_opt_in(*, subject_id: str, context: RequestContext) -> None:
    """Opt back in, for future clips only: withdrawn clips stay withdrawn."""
    with transaction.atomic():
        subject = subject_lock(subject_id=subject_id)
        subject.opted_out = False
        subject.opted_out_at = None
        subject.save(update_fields=["opted_out", "opted_out_at"])
        event_record(action="subject.opt_in", context=context, subject_id=subject_id)
