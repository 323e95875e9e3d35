"""The data subject's promises, each enforced here.

- Opt-out holds from the moment the call returns: queued and leased clips are withdrawn, leases
  revoked and (unless REVIEWSVC_OPTOUT_KEEP_AUDIO) the withdrawn audio crypto-shredded, in one
  transaction under the subject's row lock, with bulk updates and one aggregate event.
- Deletion destroys every clip's wrapped data key and every transcript's text and key.
- Retention crypto-shreds what outlived its period, in batches, one event per batch.
- An export holds exactly one subject's data, encrypted to the caller's key, downloaded once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.audit.services import event_record, event_record_denied, subject_pseudonym
from apps.clips.models import Clip, ClipStatus, Subject
from apps.clips.services import clip_audio_chunks, clip_storage, clips_shred, subject_lock
from apps.common.context import RequestContext
from apps.privacy.models import Export, ExportStatus
from apps.privacy.selectors import subject_access_log_entries
from apps.reviews.services import (
    assignments_revoke_for_subject,
    transcripts_for_subject,
    transcripts_shred_for_subject,
    transcripts_shred_submitted_before,
)
from reviewsvc.crypto.export import BundleWriter, check_recipient_public_key
from reviewsvc.errors import AccessDenied, ServiceError

logger = logging.getLogger(__name__)

WITHDRAWABLE = (ClipStatus.QUEUED, ClipStatus.ASSIGNED)
RETENTION_BATCH = 1000
EXPORT_LIFETIME = timedelta(hours=24)
EXPORT_FORMAT = "reviewsvc-subject-export"
EXPORT_FORMAT_VERSION = 1
_SAFE_EXTENSION = re.compile(r"[a-z0-9]{1,8}")


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


# --- Opt-out ----------------------------------------------------------------------------------


def subject_opt_out(*, subject_id: str, context: RequestContext) -> int:
    """Opt the subject out of human review; returns how many clips were withdrawn.

    Under the subject's row lock no ingest can queue a clip for them meanwhile, and the clip rows
    are locked before they change, so a lease, release or submit racing this call waits and then
    finds the clip withdrawn. Tasks already queued read the state when they run: lease expiry
    requeues only ``assigned`` clips, and an export build packages what is left.
    """
    with transaction.atomic():
        subject = subject_lock(subject_id=subject_id)
        if not subject.opted_out:
            subject.opted_out = True
            subject.opted_out_at = timezone.now()
            subject.save(update_fields=["opted_out", "opted_out_at"])
        withdrawable = Clip.objects.filter(subject=subject, status__in=WITHDRAWABLE)
        revoked, clip_ids = _lock_then_revoke(subject_id=subject_id, clips=withdrawable)
        keep_audio = settings.REVIEWSVC_OPTOUT_KEEP_AUDIO
        if keep_audio:
            withdrawn = withdrawable.update(status=ClipStatus.WITHDRAWN, status_changed_at=timezone.now())
        else:
            withdrawn = clips_shred(clips=withdrawable, status=ClipStatus.WITHDRAWN)
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
        subject.opted_out = False
        subject.opted_out_at = None
        subject.save(update_fields=["opted_out", "opted_out_at"])
        event_record(action="subject.opt_in", context=context, subject_id=subject_id)


def subject_access_report_record(*, subject_id: str, context: RequestContext, entries: int) -> None:
    """A read of the subject's access report is itself logged: it tells who looked at the log."""
    with transaction.atomic():
        event_record(action="subject.access_log", context=context, subject_id=subject_id, extra={"entries": entries})


# --- Deletion ---------------------------------------------------------------------------------


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


# --- Retention --------------------------------------------------------------------------------


def clips_expire_batch(*, now: datetime, batch_size: int = RETENTION_BATCH) -> int:
    """Crypto-shred up to ``batch_size`` clips older than the retention period; 0 when none are left.

    ``skip_locked``: two sweeps running at once take different batches; a clip already shredded
    has no key and is never picked again, so re-running is harmless.
    """
    cutoff = now - timedelta(days=settings.REVIEWSVC_RETENTION_DAYS)
    with transaction.atomic():
        clip_ids = list(
            Clip.objects.select_for_update(skip_locked=True)
            .filter(created_at__lt=cutoff, wrapped_key__isnull=False)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not clip_ids:
            return 0
        count = clips_shred(clips=Clip.objects.filter(id__in=clip_ids), status=ClipStatus.EXPIRED)
        event_record(
            action="clips.expire",
            context=RequestContext.system("retention"),
            extra={"count": count, "cutoff": cutoff.isoformat(), "clips_digest": ids_digest(clip_ids)},
        )
    return count


def transcripts_expire_batch(*, now: datetime, batch_size: int = RETENTION_BATCH) -> int:
    """Crypto-shred up to ``batch_size`` transcripts older than their retention period."""
    cutoff = now - timedelta(days=settings.REVIEWSVC_TRANSCRIPT_RETENTION_DAYS)
    with transaction.atomic():
        clip_ids = transcripts_shred_submitted_before(before=cutoff, limit=batch_size)
        if not clip_ids:
            return 0
        event_record(
            action="transcripts.expire",
            context=RequestContext.system("retention"),
            extra={"count": len(clip_ids), "cutoff": cutoff.isoformat(), "clips_digest": ids_digest(clip_ids)},
        )
    return len(clip_ids)


def exports_purge(*, now: datetime) -> int:
    """Remove the bundles of exports that were downloaded, failed or outlived their 24 hours.

    An export still pending after its 24 hours (its build never ran, or its worker died) is
    marked failed, so its status stops promising a bundle.
    """
    Export.objects.filter(status=ExportStatus.PENDING, expires_at__lte=now).update(
        status=ExportStatus.FAILED, failure="expired"
    )
    storage = clip_storage()
    purged = 0
    stale = Export.objects.exclude(blob_name="").filter(
        status__in=[ExportStatus.DOWNLOADED, ExportStatus.FAILED]
    ) | Export.objects.exclude(blob_name="").filter(expires_at__lte=now)
    for export in stale.only("id", "blob_name"):
        storage.delete(export.blob_name)
        purged += Export.objects.filter(id=export.id, blob_name=export.blob_name).update(blob_name="")
    return purged


def retention_sweep(*, now: datetime | None = None, batch_size: int = RETENTION_BATCH) -> dict[str, int]:
    """Everything past its retention period, batch by batch until nothing is left."""
    now = now or timezone.now()
    done = {"clips": 0, "transcripts": 0, "exports": 0}
    while count := clips_expire_batch(now=now, batch_size=batch_size):
        done["clips"] += count
    while count := transcripts_expire_batch(now=now, batch_size=batch_size):
        done["transcripts"] += count
    done["exports"] = exports_purge(now=now)
    return done


# --- Exports ----------------------------------------------------------------------------------


class ExportSubjectMismatch(Exception):
    """An item about to be packaged belongs to another subject. The export fails."""


def export_request(*, subject_id: str, recipient_public_key: bytes, api_key: ApiKey, context: RequestContext) -> Export:
    """Record an export request bound to this subject and this API key; the build runs as a task."""
    from apps.privacy.tasks import export_build_task

    try:
        check_recipient_public_key(recipient_public_key)
    except ValueError:
        raise ServiceError(
            "validation_error", details={"recipient_public_key": ["Not a usable X25519 public key."]}
        ) from None
    now = timezone.now()
    with transaction.atomic():
        export = Export.objects.create(
            subject_id=subject_id,
            api_key=api_key,
            recipient_public_key=recipient_public_key,
            created_at=now,
            expires_at=now + EXPORT_LIFETIME,
        )
        event_record(action="export.request", context=context, subject_id=subject_id, extra={"export": str(export.id)})
        transaction.on_commit(lambda: export_build_task.delay(str(export.id)))
    return export


def export_get(*, export_id: str, subject_id: str, api_key: ApiKey, action: str) -> Export:
    """The export, if it is this subject's and was asked for with this key; else 404, logged.

    An export id of another key or another subject answers exactly like an unknown one.
    """
    try:
        key = uuid.UUID(str(export_id))
    except ValueError:
        key = None
    export = Export.objects.filter(id=key, subject_id=subject_id, api_key=api_key).first() if key is not None else None
    if export is None:
        raise AccessDenied(
            "not_found", audit={"action": action, "subject_id": subject_id, "extra": {"export": str(export_id)[:64]}}
        )
    return export


def _assert_subject(item_subject_id: str, expected: str) -> None:
    # Packaging someone else's data is the incident this export exists to prevent: refuse the
    # whole export rather than skip the item.
    if item_subject_id != expected:
        raise ExportSubjectMismatch("an item of another subject reached the export")


def _add_entry(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> dict:
    """Stream ``chunks`` into one ZIP entry, hashing them for the manifest.

    The entry is closed even when ``chunks`` raises, so the archive can close and the original
    error (e.g. a subject mismatch) is the one that fails the export.
    """
    sha = hashlib.sha256()
    size = 0
    with archive.open(name, "w", force_zip64=True) as entry:
        for chunk in chunks:
            sha.update(chunk)
            size += len(chunk)
            entry.write(chunk)
    return {"sha256": sha.hexdigest(), "bytes": size}


def _json_array(items: Iterable[dict]) -> Iterator[bytes]:
    """A JSON array, one element at a time: a long list is never built whole."""
    yield b"[\n"
    first = True
    for item in items:
        yield (b"" if first else b",\n") + json.dumps(item, sort_keys=True, ensure_ascii=False).encode()
        first = False
    yield b"\n]\n"


def _clip_record(clip: Clip, *, audio_file: str | None) -> dict:
    return {
        "id": str(clip.id),
        "status": clip.status,
        "language": clip.language,
        "region": clip.region,
        "activation": clip.activation,
        "duration_ms": clip.duration_ms,
        "audio_format": clip.audio_format,
        "captured_at": clip.captured_at.isoformat() if clip.captured_at else None,
        "created_at": clip.created_at.isoformat(),
        "audio_file": audio_file,
    }


@dataclass
class _BuildCounts:
    clips: int = 0
    audio_files: int = 0
    transcripts: int = 0
    access_events: int = 0


def _subject_clips(*, subject_id: str) -> Iterator[Clip]:
    return Clip.objects.filter(subject_id=subject_id).order_by("created_at", "id").iterator(chunk_size=500)


def _clips_in_order(*, clip_ids: list) -> Iterator[Clip]:
    """Fresh rows of ``clip_ids``, in that order, a chunk at a time; a vanished row is an error."""
    for start in range(0, len(clip_ids), 500):
        chunk = clip_ids[start : start + 500]
        rows = {clip.id: clip for clip in Clip.objects.filter(id__in=chunk)}
        for clip_id in chunk:
            yield rows[clip_id]


def _write_bundle(*, export: Export, archive: zipfile.ZipFile) -> tuple[_BuildCounts, list[str]]:
    """Every item of the subject into ``archive``, each one's subject asserted first.

    Two passes over the clips: their records first (streamed, noting which have audio), then
    the audio, so neither list of a subject with many clips is ever held whole.
    """
    subject_id = export.subject_id
    files: dict[str, dict] = {}
    counts = _BuildCounts()
    clip_ids: list[str] = []
    with_audio: list = []

    def clip_records() -> Iterator[dict]:
        for clip in _subject_clips(subject_id=subject_id):
            _assert_subject(clip.subject_id, subject_id)
            counts.clips += 1
            clip_ids.append(str(clip.id))
            audio_file = None
            if not clip.is_shredded and clip.blob_name:
                extension = clip.audio_format if _SAFE_EXTENSION.fullmatch(clip.audio_format) else "bin"
                audio_file = f"audio/{clip.id}.{extension}"
                with_audio.append(clip.id)
            yield _clip_record(clip, audio_file=audio_file)

    files["clips.json"] = _add_entry(archive, "clips.json", _json_array(clip_records()))

    for clip in _clips_in_order(clip_ids=with_audio):
        _assert_subject(clip.subject_id, subject_id)
        extension = clip.audio_format if _SAFE_EXTENSION.fullmatch(clip.audio_format) else "bin"
        audio_file = f"audio/{clip.id}.{extension}"
        # Decrypted under the export's subject, not the row's: the blob's associated data names
        # its subject, so a foreign clip fails here even without the assertion above. A clip
        # shredded since the first pass has no key and fails the export (ask again).
        files[audio_file] = _add_entry(archive, audio_file, clip_audio_chunks(clip=clip, subject_id=subject_id))
        counts.audio_files += 1

    def transcripts() -> Iterator[dict]:
        for item in transcripts_for_subject(subject_id=subject_id):
            _assert_subject(item.subject_id, subject_id)
            counts.transcripts += 1
            yield {
                "clip": str(item.clip_id),
                "text": item.text,
                "flags": list(item.flags),
                "submitted_at": item.submitted_at.isoformat(),
            }

    files["transcripts.json"] = _add_entry(archive, "transcripts.json", _json_array(transcripts()))

    pseudonym = subject_pseudonym(subject_id)

    def access_log() -> Iterator[dict]:
        for item in subject_access_log_entries(subject_id=subject_id):
            _assert_subject(item.subject_pseudonym, pseudonym)
            counts.access_events += 1
            yield item.as_dict()

    files["access-log.json"] = _add_entry(archive, "access-log.json", _json_array(access_log()))

    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_FORMAT_VERSION,
        "export_id": str(export.id),
        "subject_id": subject_id,
        "requested_at": export.created_at.isoformat(),
        "built_at": timezone.now().isoformat(),
        "files": files,
    }
    archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode())
    return counts, clip_ids


def export_build(*, export_id: str) -> str:
    """Build the bundle of a pending export; returns its final status.

    Runs once per export (the claim below), so a redelivered task does nothing. The ZIP is
    written straight into ``BundleWriter``: plaintext exists only one segment at a time in
    memory, and the temporary file and the stored bundle hold ciphertext only.
    """
    now = timezone.now()
    claimed = Export.objects.filter(id=export_id, status=ExportStatus.PENDING, build_started_at__isnull=True).update(
        build_started_at=now
    )
    if not claimed:
        return Export.objects.filter(id=export_id).values_list("status", flat=True).first() or "missing"
    export = Export.objects.get(id=export_id)
    context = RequestContext.system("export_build")
    storage = clip_storage()
    blob_name = ""
    try:
        if export.expires_at <= now:
            raise ServiceError("export_gone")
        with tempfile.TemporaryFile() as sealed:
            writer = BundleWriter(sealed, recipient_public_key=bytes(export.recipient_public_key), export_id=export.id)
            with zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_STORED) as archive:
                counts, clip_ids = _write_bundle(export=export, archive=archive)
            writer.finish()
            size = sealed.tell()
            sealed.seek(0)
            blob_name = storage.save(f"exports/{export.id.hex}.rvx", File(sealed))
        with transaction.atomic():
            Export.objects.filter(id=export.id).update(
                status=ExportStatus.READY, blob_name=blob_name, size_bytes=size, ready_at=timezone.now()
            )
            event_record(
                action="export.build",
                context=context,
                subject_id=export.subject_id,
                extra={
                    "export": str(export.id),
                    "clips": counts.clips,
                    "audio_files": counts.audio_files,
                    "transcripts": counts.transcripts,
                    "access_events": counts.access_events,
                    "bytes": size,
                    "clips_digest": ids_digest(clip_ids),
                },
            )
    except Exception as exc:
        reason = "subject_mismatch" if isinstance(exc, ExportSubjectMismatch) else "build_failed"
        logger.exception("export %s failed: %s", export.id, reason)
        if blob_name:
            storage.delete(blob_name)
        Export.objects.filter(id=export.id).update(status=ExportStatus.FAILED, failure=reason, blob_name="")
        event_record_denied(
            action="export.build",
            context=context,
            reason=reason,
            subject_id=export.subject_id,
            extra={"export": str(export.id)},
        )
        return ExportStatus.FAILED
    return ExportStatus.READY


def export_downloadable(export: Export) -> bool:
    return export.status == ExportStatus.READY and export.expires_at > timezone.now() and bool(export.blob_name)


def export_download(*, export: Export, context: RequestContext) -> Iterator[bytes]:
    """Hand out the bundle once: the export is marked downloaded before the first byte leaves.

    Another download, or one after 24 hours, is refused with ``export_gone`` and logged. The
    stored bundle is removed once streamed (and by the retention sweep if the stream breaks).
    """
    with transaction.atomic():
        current = Export.objects.select_for_update().get(id=export.id)
        if current.status == ExportStatus.PENDING and current.expires_at > timezone.now():
            refused = "conflict"
        elif not export_downloadable(current):
            refused = "export_gone"
        else:
            refused = ""
            Export.objects.filter(id=export.id).update(status=ExportStatus.DOWNLOADED, downloaded_at=timezone.now())
            event_record(
                action="export.download",
                context=context,
                subject_id=current.subject_id,
                extra={"export": str(export.id), "bytes": current.size_bytes},
            )
    if refused:
        raise AccessDenied(
            refused,
            audit={
                "action": "export.download",
                "subject_id": current.subject_id,
                "extra": {"export": str(export.id), "status": current.status},
            },
        )
    return _stream_and_remove(current.blob_name)


def _stream_and_remove(blob_name: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    storage = clip_storage()
    try:
        with storage.open(blob_name, "rb") as source:
            while chunk := source.read(chunk_size):
                yield chunk
    finally:
        storage.delete(blob_name)
        Export.objects.filter(blob_name=blob_name).update(blob_name="")
