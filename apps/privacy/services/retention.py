"""Retention crypto-shreds what outlived its period, in batches, one event per batch."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import event_record
from apps.clips.models import Clip, ClipStatus
from apps.clips.services import clip_storage, clips_shred
from apps.common.context import RequestContext
from apps.privacy.models import Export, ExportStatus
from apps.privacy.services.subjects import ids_digest
from apps.reviews.services import (
    transcripts_shred_submitted_before,
)

RETENTION_BATCH = 1000


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
