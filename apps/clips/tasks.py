"""Celery tasks of the clips app: thin, ids only; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="clips.blobs_sweep")
def blobs_sweep() -> int:
    """Remove blob files of crypto-shredded clips until none are left."""
    from apps.clips.services import blobs_sweep_batch

    total = 0
    while done := blobs_sweep_batch():
        total += done
    return total


@shared_task(name="clips.blobs_orphans_sweep")
def blobs_orphans_sweep_task() -> int:
    """Hourly (CELERY_BEAT_SCHEDULE): remove stored files no row refers to, past the grace period."""
    from apps.clips.services import blobs_orphans_sweep

    return blobs_orphans_sweep()
