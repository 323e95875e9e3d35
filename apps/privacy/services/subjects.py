"""The subject's opt-out and deletion.

- Opt-out holds from the moment the call returns: queued and leased clips are withdrawn, leases
  revoked and (unless REVIEWSVC_OPTOUT_KEEP_AUDIO) the withdrawn audio crypto-shredded, in one
  transaction under the subject's row lock, with bulk updates and one aggregate event.
- Deletion destroys every clip's wrapped data key and every transcript's text and key.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction

from apps.audit.services import event_record
from apps.clips.models import Clip, ClipStatus, Subject
from apps.clips.services import clips_shred, clips_transition, subject_lock, subject_opted_out_set
from apps.common.context import RequestContext
from apps.reviews.services import (
    assignments_revoke_for_subject,
    transcripts_shred_for_subject,
)

WITHDRAWABLE = (ClipStatus.QUEUED, ClipStatus.ASSIGNED)


def ids_digest(ids) -> str:
    """One SHA-256 over the sorted ids: a bulk event names its clips without listing them."""
    digest = hashlib.sha256()
    for clip_id in sorted(str(i) for i in ids):
        digest.update(clip_id.encode() + b"\n")
    return digest.hexdigest()


def _lock_then_revoke(*, subject_id: str, clips) -> tuple[int, list]:
    """Lock ``clips``, then revoke the subject's leases; returns (revoked, locked ids).

    The lock order is the one every writer of clips and leases follows: subject, clips, leases.
    A reviewer's submit or release locks its clip before its lease, so it either finished before
    these locks (its transcript is then seen and kept or shredded here) or waits and then finds
    its lease revoked. Leasing skips locked clips, so no new lease appears meanwhile.
    """
    clip_ids = list(clips.select_for_update().values_list("id", flat=True))
    revoked = assignments_revoke_for_subject(subject_id=subject_id)
    return revoked, clip_ids


def subject_opt_out(*, subject_id: str, context: RequestContext) -> int:
    """Opt the subject out of human review; returns how many clips were withdrawn.

    Under the subject's row lock no ingest can queue a clip for them meanwhile, and the clip rows
    are locked before they change, so a lease, release or submit racing this call waits and then
    finds the clip withdrawn. Tasks already queued read the state when they run: lease expiry
    requeues only ``assigned`` clips, and an export build packages what is left.
    """
    with transaction.atomic():
        subject = subject_lock(subject_id=subject_id)
        subject_opted_out_set(subject=subject, opted_out=True)
        withdrawable = Clip.objects.filter(subject=subject, status__in=WITHDRAWABLE)
        revoked, clip_ids = _lock_then_revoke(subject_id=subject_id, clips=withdrawable)
        keep_audio = settings.REVIEWSVC_OPTOUT_KEEP_AUDIO
        withdrawn = clips_transition(clips=withdrawable, to=ClipStatus.WITHDRAWN, shred=not keep_audio)
        event_record(
            action="subject.opt_out",
            context=context,
            subject_id=subject_id,
            extra={
                "withdrawn": withdrawn,
                "leases_revoked": revoked,
                "audio_shredded": not keep_audio,
                "clips_digest": ids_digest(clip_ids),
            },
        )
    return withdrawn


def subject_opt_in(*, subject_id: str, context: RequestContext) -> None:
    """Opt back in, for future clips only: withdrawn clips stay withdrawn."""
    with transaction.atomic():
        subject = subject_lock(subject_id=subject_id)
        subject_opted_out_set(subject=subject, opted_out=False)
        event_record(action="subject.opt_in", context=context, subject_id=subject_id)


def subject_access_report_record(*, subject_id: str, context: RequestContext, entries: int) -> None:
    """A read of the subject's access report is itself logged: it tells who looked at the log."""
    with transaction.atomic():
        event_record(action="subject.access_log", context=context, subject_id=subject_id, extra={"entries": entries})


def subject_clips_delete(*, subject_id: str, context: RequestContext) -> int:
    """Crypto-shred every clip and transcript of the subject; returns how many clips were deleted.

    The wrapped data keys are set to NULL in this transaction, so from its commit nothing the
    service holds opens the audio; the blob files follow through ``blobs_sweep``. What a database
    backup still holds is the subject of docs/PRIVACY.md.
    """
    with transaction.atomic():
        # The subject lock orders this against ingest and opt-out; an unknown subject has no
        # clips and gets no row made for it.
        subject = Subject.objects.select_for_update().filter(subject_id=subject_id).first()
        deleted, transcripts, revoked, clip_ids = 0, 0, 0, []
        if subject is not None:
            remaining = Clip.objects.filter(subject=subject).exclude(status=ClipStatus.DELETED)
            revoked, clip_ids = _lock_then_revoke(subject_id=subject_id, clips=remaining)
            transcripts = transcripts_shred_for_subject(subject_id=subject_id)
            deleted = clips_shred(clips=remaining, status=ClipStatus.DELETED)
        event_record(
            action="subject.delete",
            context=context,
            subject_id=subject_id,
            extra={
                "deleted": deleted,
                "transcripts_shredded": transcripts,
                "leases_revoked": revoked,
                "clips_digest": ids_digest(clip_ids),
            },
        )
    return deleted
