"""Master-key rotation across every holder of wrapped keys."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.keys import key_provider, wrapped_key_holders

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


def wrapped_keys_rewrap(*, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-wrap every wrapped key under the current version, then retire versions nobody uses."""
    provider = key_provider()
    done: dict[str, int] = {}
    for holder in wrapped_key_holders():
        done[holder.name] = 0
        while count := holder.rewrap_batch(provider=provider, batch_size=REWRAP_BATCH):
            done[holder.name] += count
            if progress:
                progress(holder.name, done[holder.name])
    in_use = set().union(*(holder.versions_in_use() for holder in wrapped_key_holders()))
    current = provider.current_version()
    retired = [v for v in provider.versions() if v != current and v not in in_use]
    for version in retired:
        provider.retire(version)
    with transaction.atomic():
        event_record(
            action="key.rewrap",
            context=RequestContext.system("rewrap"),
            extra={"rewrapped": done, "retired_versions": retired, "current_version": current},
        )
    return done
