from celery import shared_task

from apps.clips.services import blobs_sweep_batch


@shared_task(name="clips.blobs_sweep")
def blobs_sweep() -> int:
    """Remove blob files of crypto-shredded clips until none are left."""
    total = 0
    while done := blobs_sweep_batch():
        total += done
    return total
