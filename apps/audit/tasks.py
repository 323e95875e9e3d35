"""Celery tasks of the audit app: thin; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="audit.checkpoint")
def audit_checkpoint_task() -> int | None:
    """Every five minutes (CELERY_BEAT_SCHEDULE): sign what was appended since the last one."""
    from apps.audit.services import checkpoint_create

    checkpoint = checkpoint_create()
    return checkpoint.size if checkpoint else None


@shared_task(name="audit.seal")
def audit_seal_task() -> int:
    """Every five seconds (CELERY_BEAT_SCHEDULE), PostgreSQL: seal what is pending if no sealer leads."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    from apps.audit.sealing import seal_if_leader_free

    return seal_if_leader_free()


@shared_task(name="audit.verification_run")
def audit_verification_run(*, run_id: str) -> str:
    """A verification the console started: reads the whole log, records the result on the run."""
    from apps.audit.verification import verification_run

    return verification_run(run_id=run_id).status


@shared_task(name="audit.event_counts")
def audit_event_counts_task() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): count newly sealed events for the console's charts."""
    from apps.audit.rollups import event_counts_catch_up

    return event_counts_catch_up()


@shared_task(name="audit.baseline_alerts")
def audit_baseline_alerts_task() -> int:
    """Every hour: raise an alert for each reviewer or facility far above its own 14-day baseline."""
    from apps.audit.baseline import baseline_alerts_raise

    return baseline_alerts_raise()


@shared_task(name="audit.siem_forward")
def audit_siem_forward_task() -> int:
    """Every five seconds (CELERY_BEAT_SCHEDULE): stream sealed events to each configured SIEM."""
    from apps.audit.forwarding import siem_forward_all

    return sum(result.sent for result in siem_forward_all())
