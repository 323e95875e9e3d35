from celery import shared_task

from apps.audit.services import checkpoint_create


@shared_task(name="audit.checkpoint")
def audit_checkpoint_task() -> int | None:
    """Every five minutes (CELERY_BEAT_SCHEDULE): sign what was appended since the last one."""
    checkpoint = checkpoint_create()
    return checkpoint.size if checkpoint else None
