"""Celery tasks of the review workflow: thin, ids only; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="reviews.expire_leases")
def expire_leases() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): lapsed leases put their clips back in the queue."""
    from apps.reviews.services import assignments_expire_due

    return assignments_expire_due()


@shared_task(name="reviews.alert_notify")
def alert_notify(
    *,
    rule: str,
    event_seq: int | None,
    reviewer_id: int,
    clip_id: str | None,
    facility_id: int | None,
    event_mac: str = "",
) -> None:
    from apps.reviews.alerts import alert_deliver

    alert_deliver(
        rule=rule,
        event_seq=event_seq,
        reviewer_id=reviewer_id,
        clip_id=clip_id,
        facility_id=facility_id,
        event_mac=event_mac,
    )
