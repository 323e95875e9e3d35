"""Transcripts: what the reviewer heard, sealed at rest; reads, the subject's export, shredding."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from apps.accounts.selectors import ReviewerSnapshot
from apps.audit.services import event_record
from apps.clips.models import Clip, ClipStatus
from apps.clips.services import clip_transition
from apps.common.context import RequestContext
from apps.common.keys import WrappedKeyHolder, key_provider, rows_rewrap
from apps.reviews.models import Assignment, AssignmentStatus, Transcript
from apps.reviews.services.leases import _as_uuid, _assignment_change, _on_lease
from reviewsvc.crypto import envelope
from reviewsvc.crypto.keys import KeyProvider
from reviewsvc.errors import ServiceError

TRANSCRIPT_KIND = "transcript"
FLAGS = ("accidental_activation", "no_speech", "sensitive")
# What the workbench shows beside each flag; its form is drawn from this, so it offers exactly FLAGS.
FLAG_LABELS = {
    "accidental_activation": "Accidental activation (the clip is destroyed once flagged)",
    "no_speech": "No speech",
    "sensitive": "Sensitive content",
}
ACCIDENTAL_FLAG = "accidental_activation"
# Newlines and tabs are how people lay out a transcript; every other control character is
# either an injection attempt (terminal escapes, log forging) or noise.
ALLOWED_CONTROLS = frozenset("\n\t")


def transcript_text_clean(text: str) -> str:
    """NFC-normalised, bounded, and free of control characters other than newline and tab."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n"))
    limit = settings.REVIEWSVC_TRANSCRIPT_MAX_CHARS
    if len(text) > limit:
        raise ServiceError("validation_error", details={"text": [f"At most {limit} characters."]})
    if any(
        (unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROLS) or unicodedata.category(ch) == "Cs"
        for ch in text
    ):
        raise ServiceError("validation_error", details={"text": ["Control characters are not allowed."]})
    return text


def transcript_flags_clean(flags: list[str]) -> list[str]:
    unknown = [flag for flag in flags if flag not in FLAGS]
    if unknown or len(set(flags)) != len(flags):
        raise ServiceError("validation_error", details={"flags": [f"Each at most once, among {', '.join(FLAGS)}."]})
    return sorted(flags)


def _transcript_seal(*, text: str, transcript_id: uuid.UUID, subject_id: str) -> envelope.Sealed:
    return envelope.seal(
        text.encode("utf-8"),
        provider=key_provider(),
        kind=TRANSCRIPT_KIND,
        object_id=str(transcript_id),
        subject_id=subject_id,
    )


def transcript_submit(
    *, reviewer: ReviewerSnapshot, assignment_id, text: str, flags: list[str], context: RequestContext
) -> Transcript:
    """Record what the reviewer heard; the lease ends and the clip is ``transcribed``.

    A clip flagged as an accidental activation was never meant for human ears: its audio is
    crypto-shredded in the same transaction and its transcript keeps only the flag.
    """
    text = transcript_text_clean(text)
    flags = transcript_flags_clean(flags)
    accidental = ACCIDENTAL_FLAG in flags

    def submit(assignment: Assignment, clip: Clip, now: datetime) -> tuple[Transcript, dict]:
        transcript = Transcript(
            clip=clip, assignment=assignment, reviewer_id=reviewer.user_id, flags=flags, submitted_at=now
        )
        if not accidental:
            sealed = _transcript_seal(text=text, transcript_id=transcript.id, subject_id=clip.subject_id)
            transcript.ciphertext = bytes(sealed.blob)
            transcript.wrapped_key = sealed.wrapped_key
            transcript.key_version = sealed.key_version
        transcript.save(force_insert=True)
        _assignment_change(assignment, status=AssignmentStatus.SUBMITTED, ended_at=now)
        clip_transition(clip=clip, to=ClipStatus.TRANSCRIBED, shred=accidental, now=now)
        # The length, never the text: the log holds no content.
        return transcript, {"transcript": str(transcript.id), "flags": flags, "chars": 0 if accidental else len(text)}

    return _on_lease(
        reviewer=reviewer,
        assignment_id=assignment_id,
        context=context,
        action="transcript.submit",
        act=submit,
        changes_clip=True,
    )


@dataclass(frozen=True)
class TranscriptView:
    text: str
    flags: list[str]
    submitted_at: datetime


def _transcript_text(transcript: Transcript, *, subject_id: str) -> str:
    """The decrypted text, opened under ``subject_id``'s associated data; "" once shredded."""
    if transcript.ciphertext is None or transcript.wrapped_key is None:
        return ""
    return envelope.open(
        bytes(transcript.ciphertext),
        provider=key_provider(),
        wrapped_key=bytes(transcript.wrapped_key),
        kind=TRANSCRIPT_KIND,
        object_id=str(transcript.id),
        subject_id=subject_id,
    ).decode("utf-8")


def transcript_read(*, clip_id, context: RequestContext) -> TranscriptView:
    """The ingest client reads a clip's transcript; each read is an access event."""
    key = _as_uuid(clip_id)
    transcript = Transcript.objects.select_related("clip").filter(clip_id=key).first() if key else None
    if transcript is None:
        raise ServiceError("not_found")
    subject_id = transcript.clip.subject_id
    text = _transcript_text(transcript, subject_id=subject_id)
    with transaction.atomic():
        event_record(
            action="transcript.read",
            context=context,
            clip_id=transcript.clip_id,
            subject_id=subject_id,
            extra={"transcript": str(transcript.id)},
        )
    return TranscriptView(text=text, flags=list(transcript.flags), submitted_at=transcript.submitted_at)


def transcripts_shred_for_subject(*, subject_id: str) -> int:
    """Destroy the text keys of the subject's transcripts (crypto-shredding); flags stay.

    Call inside the caller's transaction (the subject deletion records the event).
    """
    return Transcript.objects.filter(clip__subject_id=subject_id, wrapped_key__isnull=False).update(
        ciphertext=None, wrapped_key=None, key_version=None
    )


@dataclass(frozen=True)
class SubjectTranscript:
    clip_id: uuid.UUID
    subject_id: str
    text: str
    flags: list[str]
    submitted_at: datetime


def transcripts_for_subject(*, subject_id: str) -> Iterator[SubjectTranscript]:
    """The subject's transcripts, decrypted, oldest first: only for the subject's own export.

    Opened under the asked-for subject's associated data, so a transcript of anyone else fails
    authentication instead of reaching the export. A shredded transcript yields an empty text.
    """
    transcripts = (
        Transcript.objects.select_related("clip")
        .filter(clip__subject_id=subject_id)
        .only("id", "clip_id", "clip__subject_id", "flags", "ciphertext", "wrapped_key", "submitted_at")
        .order_by("submitted_at", "id")
    )
    for transcript in transcripts.iterator(chunk_size=500):
        yield SubjectTranscript(
            clip_id=transcript.clip_id,
            subject_id=transcript.clip.subject_id,
            text=_transcript_text(transcript, subject_id=subject_id),
            flags=list(transcript.flags),
            submitted_at=transcript.submitted_at,
        )


def transcripts_shred_submitted_before(*, before: datetime, limit: int) -> list[uuid.UUID]:
    """Crypto-shred up to ``limit`` transcripts submitted before ``before``; returns their clip ids.

    Call inside the caller's transaction (the retention sweep records one event per batch);
    ``skip_locked`` lets two sweeps take different batches.
    """
    batch = list(
        Transcript.objects.select_for_update(skip_locked=True)
        .filter(submitted_at__lt=before, wrapped_key__isnull=False)
        .order_by("submitted_at")
        .values_list("id", "clip_id")[:limit]
    )
    Transcript.objects.filter(id__in=[transcript_id for transcript_id, _ in batch]).update(
        ciphertext=None, wrapped_key=None, key_version=None
    )
    return [clip_id for _, clip_id in batch]


# --- Master-key rotation ----------------------------------------------------------------------
def _transcripts_rewrap_batch(*, provider: KeyProvider, batch_size: int) -> int:
    return rows_rewrap(
        Transcript.objects.select_related("clip").only("id", "wrapped_key", "key_version", "clip__subject_id"),
        provider=provider,
        batch_size=batch_size,
        seal_context=lambda transcript: {
            "kind": TRANSCRIPT_KIND,
            "object_id": str(transcript.id),
            "subject_id": transcript.clip.subject_id,
        },
    )


def _transcript_key_versions() -> set[int]:
    return set(Transcript.objects.filter(wrapped_key__isnull=False).values_list("key_version", flat=True).distinct())


TRANSCRIPT_KEY_HOLDER = WrappedKeyHolder(
    name="transcripts", rewrap_batch=_transcripts_rewrap_batch, versions_in_use=_transcript_key_versions
)
