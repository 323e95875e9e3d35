"""Celery tasks of the common app: thin; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="common.outbox_relay")
def outbox_relay_task() -> int:
    """Every few seconds (CELERY_BEAT_SCHEDULE): publish what the outbox holds."""
    from apps.common.outbox import outbox_relay

    return outbox_relay()


@shared_task(name="common.counters_purge")
def counters_purge_task() -> int:
    """Hourly (CELERY_BEAT_SCHEDULE): drop the shared counters of windows that are over."""
    from apps.common.counters import counters_purge

    return counters_purge()
