"""Verifying the whole log as a background job the console starts and watches.

``apps.audit.services.verification_start`` records the run (and the ``audit.verify`` event naming who asked); a worker
does the reading, so a long verification neither ties up a web worker nor times out. Progress
is the number of events checked so far, published through the cache every ``PROGRESS_EVERY``
events; the result (and the first bad sequence, if any) lands on the run's row.
"""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from apps.audit.models import VerificationRun, VerificationStatus
from apps.audit.selectors import audit_log_verify

PROGRESS_EVERY = 50_000


def _progress_key(run_id) -> str:
    return f"audit:verification:{run_id}"


def verification_run(*, run_id: str) -> VerificationRun:
    """Run a queued verification; a run already started or finished is left as it is."""
    started = VerificationRun.objects.filter(id=run_id, status=VerificationStatus.QUEUED).update(
        status=VerificationStatus.RUNNING, started_at=timezone.now()
    )
    run = VerificationRun.objects.get(id=run_id)
    if not started:
        return run

    def progress(checked: int) -> None:
        cache.set(_progress_key(run_id), checked, timeout=24 * 3600)

    result = audit_log_verify(progress=progress, progress_every=PROGRESS_EVERY)
    VerificationRun.objects.filter(id=run_id).update(
        status=VerificationStatus.PASSED if result.ok else VerificationStatus.FAILED,
        entries=result.entries,
        first_bad=result.first_bad,
        problem=(result.problem or "")[:300],
        finished_at=timezone.now(),
    )
    cache.delete(_progress_key(run_id))
    run.refresh_from_db()
    return run


def verification_progress(*, run: VerificationRun) -> int:
    """Events checked so far: the published count while running, the result once finished."""
    if run.status == VerificationStatus.RUNNING:
        return cache.get(_progress_key(run.id), 0)
    return run.entries
