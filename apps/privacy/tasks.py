"""Celery tasks of the privacy app: thin, ids only; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="privacy.export_build")
def export_build_task(export_id: str) -> str:
    """Build one export's encrypted bundle; a redelivered message finds it claimed and stops."""
    from apps.privacy.services import export_build

    return export_build(export_id=export_id)


@shared_task(name="privacy.retention_sweep")
def retention_sweep_task() -> dict[str, int]:
    """Crypto-shred clips and transcripts past their retention period; purge spent exports."""
    from apps.privacy.services import retention_sweep

    return retention_sweep()


@shared_task(name="privacy.exports_resume")
def exports_resume_task() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): build again what a dead worker left half-built."""
    from apps.privacy.services.exports import exports_resume

    return exports_resume()
