"""Master-key rotation across every holder of wrapped keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.keys import key_provider, wrapped_key_holders
from apps.keys.models import KeyVersionRetirement
from reviewsvc.crypto.keys import KeyProvider

REWRAP_BATCH = 500


def master_key_rotate(*, context: RequestContext) -> int:
    """Add a master-key version and make it current; returns the new version.

    New data keys are wrapped under it at once; existing ones are re-wrapped by
    ``wrapped_keys_rewrap``. The audio itself is never re-encrypted.
    """
    provider = key_provider()
    with transaction.atomic():
        version = provider.rotate()
        event_record(action="key.rotate", context=context, extra={"version": version})
    return version


def wrapped_keys_rewrap(
    *, progress: Callable[[str, int], None] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Re-wrap every wrapped key under the current version, then retire what is due to go.

    Runs after a rotation and hourly (CELERY_BEAT_SCHEDULE): a version is retired by a later run
    than the one that first found it unused, see ``key_versions_retire``.
    """
    provider = key_provider()
    done: dict[str, int] = {}
    for holder in wrapped_key_holders():
        done[holder.name] = 0
        while count := holder.rewrap_batch(provider=provider, batch_size=REWRAP_BATCH):
            done[holder.name] += count
            if progress:
                progress(holder.name, done[holder.name])
    retired, retiring = key_versions_retire(provider=provider, now=now or timezone.now())
    with transaction.atomic():
        event_record(
            action="key.rewrap",
            context=RequestContext.system("rewrap"),
            extra={
                "rewrapped": done,
                "retired_versions": retired,
                "retiring_versions": retiring,
                "current_version": provider.current_version(),
            },
        )
    return done


def key_versions_retire(*, provider: KeyProvider, now: datetime) -> tuple[list[int], list[int]]:
    """Retire the versions found unused by an earlier scan, at least the grace period ago, and
    unused by this one; returns (retired, still waiting).

    One scan is not enough: an ingest wraps its data key before its transaction commits, so a
    scan can miss a row that is about to name the old version, and retiring then would leave a
    clip no key opens. A writer that wrapped before the first scan has committed by the time the
    grace period is over, so the second scan (after this run's re-wrap) sees it or its
    re-wrapped key. Nothing here depends on the provider beyond ``versions`` and ``retire``.
    """
    in_use = set().union(*(holder.versions_in_use() for holder in wrapped_key_holders()))
    current = provider.current_version()
    unused = [v for v in provider.versions() if v != current and v not in in_use]
    grace = timedelta(seconds=settings.REVIEWSVC_KEY_RETIRE_GRACE_SECONDS)
    with transaction.atomic():
        # A version back in use (or already gone) starts its wait again if it is ever unused.
        KeyVersionRetirement.objects.exclude(version__in=unused).delete()
        noticed = dict(KeyVersionRetirement.objects.filter(version__in=unused).values_list("version", "noticed_at"))
        KeyVersionRetirement.objects.bulk_create(
            [KeyVersionRetirement(version=v, noticed_at=now) for v in unused if v not in noticed]
        )
        due = sorted(v for v, at in noticed.items() if at <= now - grace)
        for version in due:
            provider.retire(version)
        KeyVersionRetirement.objects.filter(version__in=due).delete()
    return due, sorted(set(unused) - set(due))
