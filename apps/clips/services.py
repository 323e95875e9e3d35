"""Clip writes: ingest (encrypt, store, queue), crypto-shredding, and re-wrapping under a new
master key. Decryption of the audio is ``apps.clips.audio``'s alone."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.audit.services import event_record, event_record_refusal
from apps.clips.models import Activation, Clip, ClipStatus, Subject
from apps.common.compiled import CompiledUpdate
from apps.common.context import RequestContext
from apps.common.keys import WrappedKeyHolder, key_provider, rows_rewrap
from apps.common.outbox import outbox_enqueue
from apps.common.regions import region_choice_message, regions_unknown
from reviewsvc.audio.clean import clean
from reviewsvc.audio.probe import AudioError, InvalidAudio
from reviewsvc.crypto import envelope
from reviewsvc.crypto.keys import KeyProvider
from reviewsvc.errors import ServiceError

logger = logging.getLogger(__name__)

CLIP_KIND = "clip"


def clip_storage() -> Storage:
    return storages["clips"]


def clip_associated_data(*, clip_id: uuid.UUID | str, subject_id: str) -> bytes:
    return envelope.associated_data(kind=CLIP_KIND, object_id=str(clip_id), subject_id=subject_id)


_SUBJECT_LOCK_SQL = (
    "INSERT INTO clips_subject (subject_id, opted_out, opted_out_at, created_at) VALUES (%s, %s, NULL, %s) "
    "ON CONFLICT (subject_id) DO UPDATE SET subject_id = excluded.subject_id "
    "RETURNING subject_id, opted_out, opted_out_at, created_at"
)


def subject_lock(*, subject_id: str) -> Subject:
    """The subject's row, created if new and locked ``FOR UPDATE`` until the transaction ends.

    Ingest and opt-out both take this lock, so an ingest either commits before an opt-out
    (and is withdrawn by it) or sees the opt-out and refuses.

    One statement: an upsert whose conflict branch rewrites the key to itself. PostgreSQL's
    ``ON CONFLICT DO UPDATE`` inserts or locks the existing row atomically even under READ
    COMMITTED (an insert racing ours waits for it, then locks the row we made), and the lock it
    takes conflicts with ``SELECT ... FOR UPDATE`` and with another such upsert. SQLite locks the
    whole database for a write, and supports the statement from 3.35.
    """
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    return next(iter(Subject.objects.raw(_SUBJECT_LOCK_SQL, [subject_id, False, created_at])))


# Refusals of an upload that the client caused: bad form, opted-out subject, too large, not audio,
# an accidental activation.
REFUSED_INGEST_STATUSES = frozenset({400, 409, 413, 415, 422})


def clip_ingest_refused(*, code: str, status: int, api_key: ApiKey, context: RequestContext) -> None:
    """The denied ``clip.ingest`` event of a refused upload; nothing of the upload is recorded."""
    event_record_refusal(
        action="clip.ingest", context=context, reason=code, extra={"status": status, "api_key": api_key.name}
    )


def clip_ingest(
    *,
    audio: bytes,
    subject_id: str,
    language: str,
    region: str,
    activation: str,
    captured_at: datetime | None,
    api_key: ApiKey | None,
    context: RequestContext,
) -> Clip:
    if activation == Activation.ACCIDENTAL and not settings.REVIEWSVC_REVIEW_ACCIDENTAL:
        raise ServiceError("accidental_activation")
    if regions_unknown([region]):
        raise ServiceError("validation_error", details={"region": [region_choice_message()]})
    if len(audio) > settings.REVIEWSVC_MAX_UPLOAD_BYTES:
        raise ServiceError("payload_too_large")
    uploaded_bytes = len(audio)
    try:
        # Only the re-written recording is kept: no container metadata reaches a reviewer.
        cleaned = clean(audio)
    except InvalidAudio as exc:
        raise ServiceError("validation_error", str(exc)) from None
    except AudioError as exc:
        raise ServiceError("unsupported_media_type", str(exc)) from None
    info, audio = cleaned.info, cleaned.data

    clip_id = uuid.uuid4()
    sealed = envelope.seal(
        audio, provider=key_provider(), kind=CLIP_KIND, object_id=str(clip_id), subject_id=subject_id
    )
    storage = clip_storage()
    try:
        # The name is ours alone: nothing the client sent reaches the storage path.
        blob_name = storage.save(f"{clip_id.hex[:2]}/{clip_id.hex}.rvs", ContentFile(bytes(sealed.blob)))
    except OSError:
        # A full or unreachable store (ENOSPC, EIO): nothing was recorded, the client may retry.
        logger.exception("clip storage refused a blob")
        raise ServiceError("service_unavailable") from None
    committed = False

    def mark_committed() -> None:
        nonlocal committed
        committed = True

    try:
        with transaction.atomic():
            # Registered first, so it runs before any hook that might raise after the commit.
            transaction.on_commit(mark_committed)
            subject = subject_lock(subject_id=subject_id)
            if subject.opted_out:
                raise ServiceError("subject_opted_out", status=409)
            clip = Clip.objects.create(
                id=clip_id,
                subject=subject,
                language=language,
                region=region,
                activation=activation,
                captured_at=captured_at,
                duration_ms=info.duration_ms,
                audio_format=info.format,
                mime_type=info.mime_type,
                size_bytes=len(audio),
                blob_name=blob_name,
                wrapped_key=sealed.wrapped_key,
                key_version=sealed.key_version,
                ingested_by=api_key,
            )
            event_record(
                action="clip.ingest",
                context=context,
                clip_id=clip.id,
                subject_id=subject_id,
                extra={
                    "duration_ms": info.duration_ms,
                    "format": info.format,
                    "bytes": len(audio),
                    "uploaded_bytes": uploaded_bytes,
                },
            )
    except BaseException:
        # Only a blob no committed row names may go: an error raised after the commit (a hook,
        # the flush barrier) leaves a clip whose audio must stay. A crash here leaves the blob to
        # ``blobs_orphans_sweep``.
        if not committed:
            storage.delete(blob_name)
        raise
    return clip


# The clip lifecycle: the statuses each status may move to. Every change of ``Clip.status``, in
# any app, goes through ``clip_transition`` or ``clips_transition``, which hold to this table.
CLIP_TRANSITIONS: dict[str, frozenset[str]] = {
    ClipStatus.QUEUED: frozenset({ClipStatus.ASSIGNED, ClipStatus.WITHDRAWN, ClipStatus.DELETED, ClipStatus.EXPIRED}),
    ClipStatus.ASSIGNED: frozenset(
        {ClipStatus.QUEUED, ClipStatus.TRANSCRIBED, ClipStatus.WITHDRAWN, ClipStatus.DELETED, ClipStatus.EXPIRED}
    ),
    ClipStatus.TRANSCRIBED: frozenset({ClipStatus.DELETED, ClipStatus.EXPIRED}),
    ClipStatus.WITHDRAWN: frozenset({ClipStatus.DELETED, ClipStatus.EXPIRED}),
    ClipStatus.EXPIRED: frozenset({ClipStatus.DELETED}),
    ClipStatus.DELETED: frozenset(),
}


class IllegalClipTransition(ValueError):
    """A clip was asked to move to a status its current one may not reach: a bug, not input."""


def clip_transition_allowed(*, source: str, target: str) -> bool:
    return target in CLIP_TRANSITIONS.get(source, frozenset())


def clips_transition(*, clips: QuerySet[Clip], to: str, shred: bool = False, now: datetime | None = None) -> int:
    """Move ``clips`` to status ``to`` in one UPDATE; returns how many moved.

    Only clips whose status may reach ``to`` change; the rest stay as they are, so a caller
    racing another writer (a release after an opt-out) changes nothing it must not. ``shred``
    also destroys their wrapped data keys (crypto-shredding): the ciphertext is unreadable from
    the moment this commits, and ``blobs_sweep`` removes the files afterwards. Call inside the
    caller's transaction, with the clips locked.
    """
    if to not in CLIP_TRANSITIONS:
        raise IllegalClipTransition(f"unknown clip status {to!r}")
    sources = [source for source, targets in CLIP_TRANSITIONS.items() if to in targets]
    count = clips.filter(status__in=sources).update(**_transition_changes(to=to, shred=shred, now=now))
    _transitioned(count=count, shred=shred)
    return count


def _transition_changes(*, to: str, shred: bool, now: datetime | None) -> dict:
    changes: dict = {"status": to, "status_changed_at": now or timezone.now()}
    if shred:
        changes |= {"wrapped_key": None, "key_version": None}
    return changes


def _transitioned(*, count: int, shred: bool) -> None:
    """After ``count`` clips moved: shredded ones leave blobs for the sweep to remove."""
    if shred and count:
        outbox_enqueue(task="clips.blobs_sweep")


# One clip from the status it was read in: every lease and submit moves one, so the SQL is
# compiled once. Its status must be one that may reach the new one (checked by the caller).
_CLIP_MOVE = CompiledUpdate(
    Clip,
    lambda key, status: Clip.objects.filter(pk=key, status=status),
    fields={"key": Clip._meta.pk, "status": Clip._meta.get_field("status")},
    prepared=True,  # by primary key
)


def clip_transition(*, clip: Clip, to: str, shred: bool = False, now: datetime | None = None) -> None:
    """Move the one clip ``clip`` (locked by the caller) to ``to``; raises if its status may not."""
    if not clip_transition_allowed(source=clip.status, target=to):
        raise IllegalClipTransition(f"a {clip.status} clip cannot become {to}")
    moved = _CLIP_MOVE.update(_transition_changes(to=to, shred=shred, now=now), key=clip.pk, status=clip.status)
    if not moved:
        raise IllegalClipTransition(f"clip {clip.pk} is no longer {clip.status}")
    _transitioned(count=moved, shred=shred)
    clip.status = to
    if shred:
        clip.wrapped_key = clip.key_version = None


def clips_shred(*, clips: QuerySet[Clip], status: str) -> int:
    """Crypto-shred: destroy the wrapped data keys of ``clips`` and give them ``status``."""
    return clips_transition(clips=clips, to=status, shred=True)


def subject_opted_out_set(*, subject: Subject, opted_out: bool) -> None:
    """The one setter of a subject's opt-out flag; ``subject`` is locked (``subject_lock``).

    Setting it again keeps the original time: the opt-out holds from its first moment.
    """
    if subject.opted_out == opted_out:
        return
    subject.opted_out = opted_out
    subject.opted_out_at = timezone.now() if opted_out else None
    subject.save(update_fields=["opted_out", "opted_out_at"])


# What else keeps files in the clip storage (export bundles): each returns which of the names it
# is given its rows still refer to. Registered in ``AppConfig.ready`` by the app that owns them.
BlobReferrer = Callable[[list[str]], set[str]]
_blob_referrers: list[BlobReferrer] = []


def register_blob_referrer(referrer: BlobReferrer) -> None:
    if referrer not in _blob_referrers:
        _blob_referrers.append(referrer)


def _clip_blob_references(names: list[str]) -> set[str]:
    return set(Clip.objects.filter(blob_name__in=names).values_list("blob_name", flat=True))


def _stored_files(storage: Storage, folder: str = "") -> Iterator[str]:
    folders, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for sub in folders:
        yield from _stored_files(storage, f"{folder}/{sub}" if folder else sub)


def blobs_orphans_sweep(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Remove stored files no row refers to, older than the grace period; returns how many.

    Such files are what a crash leaves between a blob's write and its row's commit (ingest,
    export build). The grace period spares a write whose row has not committed yet. Only the
    Storage API is used, so the same sweep runs on a folder or a bucket.
    """
    storage = clip_storage()
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.REVIEWSVC_ORPHAN_BLOB_GRACE_SECONDS)
    removed = 0
    names = _stored_files(storage)
    while batch := list(islice(names, batch_size)):
        referenced: set[str] = set()
        for referrer in [_clip_blob_references, *_blob_referrers]:
            referenced |= referrer(batch)
        for name in batch:
            if name not in referenced and storage.get_modified_time(name) < cutoff:
                storage.delete(name)
                removed += 1
    if removed:
        with transaction.atomic():
            event_record(
                action="blobs.orphans_removed",
                context=RequestContext.system("orphan_sweep"),
                extra={"count": removed, "cutoff": cutoff.isoformat()},
            )
    return removed


def blobs_sweep_batch(*, batch_size: int = 500) -> int:
    """Delete the blob files of shredded clips; idempotent, safe to run on several workers."""
    storage = clip_storage()
    with transaction.atomic():
        batch = list(
            Clip.objects.select_for_update(skip_locked=True)
            .filter(wrapped_key__isnull=True)
            .exclude(blob_name="")
            .values_list("id", "blob_name")[:batch_size]
        )
        for _, blob_name in batch:
            storage.delete(blob_name)
        Clip.objects.filter(id__in=[clip_id for clip_id, _ in batch]).update(blob_name="")
    return len(batch)


def _clips_rewrap_batch(*, provider: KeyProvider, batch_size: int) -> int:
    return rows_rewrap(
        Clip.objects.only("id", "subject_id", "wrapped_key", "key_version"),
        provider=provider,
        batch_size=batch_size,
        seal_context=lambda clip: {"kind": CLIP_KIND, "object_id": str(clip.id), "subject_id": clip.subject_id},
    )


def _clip_key_versions() -> set[int]:
    return set(Clip.objects.filter(wrapped_key__isnull=False).values_list("key_version", flat=True).distinct())


CLIP_KEY_HOLDER = WrappedKeyHolder(name="clips", rewrap_batch=_clips_rewrap_batch, versions_in_use=_clip_key_versions)
