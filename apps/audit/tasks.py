"""Celery tasks of the audit app: thin; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="audit.checkpoint")
def audit_checkpoint_task() -> int | None:
    """Every five minutes (CELERY_BEAT_SCHEDULE): sign what was appended since the last one."""
    from apps.audit.services import checkpoint_create

    checkpoint = checkpoint_create()
    return checkpoint.size if checkpoint else None
