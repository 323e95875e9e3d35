"""An export holds exactly one subject's data, encrypted to the caller's key, downloaded once."""

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
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.audit.services import event_record, event_record_denied, subject_pseudonym
from apps.clips.audio import clip_audio_chunks
from apps.clips.blobs import blob_open
from apps.clips.models import Clip
from apps.clips.services import clip_storage
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.common.outbox import outbox_enqueue
from apps.privacy.models import Export, ExportStatus
from apps.privacy.selectors import subject_access_log_entries
from apps.privacy.services.subjects import ids_digest
from apps.reviews.services import (
    transcripts_for_subject,
)
from reviewsvc.crypto.export import (
    MANIFEST,
    MANIFEST_SIGNATURE,
    BundleWriter,
    check_recipient_public_key,
    manifest_signature,
)
from reviewsvc.errors import AccessDenied, ServiceError

logger = logging.getLogger(__name__)

RESUME_BATCH = 100
EXPORT_LIFETIME = timedelta(hours=24)
EXPORT_FORMAT = "reviewsvc-subject-export"
EXPORT_FORMAT_VERSION = 1
_SAFE_EXTENSION = re.compile(r"[a-z0-9]{1,8}")


class ExportClaimLost(Exception):
    """Another build took this export over (this one was thought dead); its bundle is not used."""


class ExportSubjectMismatch(Exception):
    """An item about to be packaged belongs to another subject. The export fails."""


def export_request(*, subject_id: str, recipient_public_key: bytes, api_key: ApiKey, context: RequestContext) -> Export:
    """Record an export request bound to this subject and this API key; the build runs as a task."""
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
        outbox_enqueue(task="privacy.export_build", kwargs={"export_id": str(export.id)})
        event_record(action="export.request", context=context, subject_id=subject_id, extra={"export": str(export.id)})
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
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    archive.writestr(MANIFEST, manifest_bytes)
    provider = key_provider()
    archive.writestr(
        MANIFEST_SIGNATURE,
        manifest_signature(manifest_bytes, sign=provider.sign, public_key=provider.signing_public_key()),
    )
    return counts, clip_ids


def export_build(*, export_id: str) -> str:
    """Build the bundle of a pending export; returns its final status.

    Runs once per export (the claim below), so a redelivered task does nothing — unless the
    claim is older than REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS: its worker died mid-build, and
    this run starts again (``exports_resume`` sends it). Only the latest claim may mark the export
    ready; a build that lost its claim removes its own bundle. The ZIP is written straight into
    ``BundleWriter``: plaintext exists only one segment at a time in memory, and the temporary
    file and the stored bundle hold ciphertext only.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS)
    claimed = (
        Export.objects.filter(id=export_id, status=ExportStatus.PENDING)
        .filter(Q(build_started_at__isnull=True) | Q(build_started_at__lt=stale))
        .update(build_started_at=now)
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
            ours = Export.objects.filter(id=export.id, status=ExportStatus.PENDING, build_started_at=now).update(
                status=ExportStatus.READY, blob_name=blob_name, size_bytes=size, ready_at=timezone.now()
            )
            if not ours:
                raise ExportClaimLost
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
    except ExportClaimLost:
        storage.delete(blob_name)
        return Export.objects.filter(id=export_id).values_list("status", flat=True).first() or "missing"
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


def exports_resume(*, now: datetime | None = None) -> int:
    """Send the build again of every pending export whose build never finished; returns how many.

    A worker killed mid-build leaves its claim behind; the next build takes it over once it is
    stale. A build message lost with the broker (a Redis without persistence restarted, a
    worker killed holding it) leaves an export never claimed; it is sent again too. Every minute
    (CELERY_BEAT_SCHEDULE).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS)
    with transaction.atomic():
        ids = list(
            Export.objects.filter(status=ExportStatus.PENDING, expires_at__gt=now)
            .filter(Q(build_started_at__lt=stale) | Q(build_started_at__isnull=True, created_at__lt=stale))
            .values_list("id", flat=True)[:RESUME_BATCH]
        )
        for export_id in ids:
            outbox_enqueue(task="privacy.export_build", kwargs={"export_id": str(export_id)})
    return len(ids)


def export_blob_references(names: list[str]) -> set[str]:
    """Which of ``names`` an export row still refers to: the orphan sweep keeps those."""
    return set(Export.objects.filter(blob_name__in=names).values_list("blob_name", flat=True))


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
        with blob_open(storage, blob_name) as source:
            while chunk := source.read(chunk_size):
                yield chunk
    finally:
        storage.delete(blob_name)
        Export.objects.filter(blob_name=blob_name).update(blob_name="")
