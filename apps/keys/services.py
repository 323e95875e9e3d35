"""Master-key rotation across every holder of wrapped keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.keys import key_provider, pkcs11_provider, wrapped_key_holders
from apps.keys.models import KeyVersionRetirement
from reviewsvc.crypto.errors import KeyProviderError
from reviewsvc.crypto.keys import MAC_PURPOSES, KeyProvider, LocalKeyProvider, MigratingKeyProvider

if TYPE_CHECKING:
    from reviewsvc.crypto.hsm import Pkcs11KeyProvider

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


def _rewrap_all(provider: KeyProvider, progress: Callable[[str, int], None] | None) -> dict[str, int]:
    done: dict[str, int] = {}
    for holder in wrapped_key_holders():
        done[holder.name] = 0
        while count := holder.rewrap_batch(provider=provider, batch_size=REWRAP_BATCH):
            done[holder.name] += count
            if progress:
                progress(holder.name, done[holder.name])
    return done


def _versions_in_use() -> set[int]:
    return set().union(*(holder.versions_in_use() for holder in wrapped_key_holders()))


def wrapped_keys_rewrap(
    *, progress: Callable[[str, int], None] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Re-wrap every wrapped key under the current version, then retire what is due to go.

    Runs after a rotation and hourly (CELERY_BEAT_SCHEDULE): a version is retired by a later run
    than the one that first found it unused, see ``key_versions_retire``.
    """
    provider = key_provider()
    done = _rewrap_all(provider, progress)
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
    in_use = _versions_in_use()
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


def master_keys_create(*, context: RequestContext) -> int:
    """Make the pkcs11 provider's keys in an empty token; returns the first master key version.

    Refuses (``KeyProviderError``) when the token already holds keys under the configured prefix.
    """
    provider = pkcs11_provider()
    provider.create_keys(mac_purposes=MAC_PURPOSES)
    version = provider.current_version()
    with transaction.atomic():
        event_record(action="key.create", context=context, extra={"provider": "pkcs11", "version": version})
    return version


def master_keys_migrate(
    *, source: LocalKeyProvider, target: Pkcs11KeyProvider, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Move the master keys from the local key file into a token; returns the re-wrap counts.

    The signing key and each purpose's MAC key are imported as unextractable token objects (the
    same keys, so old checkpoints verify and pseudonyms stay as they were); the master keys
    are not: the token makes a new one, numbered above the file's versions, and every wrapped
    key (clips, transcripts, TOTP seeds) is re-wrapped under it. Run again after an
    interruption, it carries on where it stopped. Afterwards nothing refers to the file.
    """
    from reviewsvc.crypto.hsm import ImportedKeys  # loads python-pkcs11 only where it is used

    if target.has_keys():
        if target.signing_public_key() != source.signing_public_key():
            raise KeyProviderError("the token already holds other keys under this prefix; refusing to mix them")
    else:
        seed, mac_keys = source.migration_keys()
        target.create_keys(
            first_version=max(source.versions()) + 1, imported=ImportedKeys(signing_seed=seed, mac_keys=mac_keys)
        )
    done = _rewrap_all(MigratingKeyProvider(source=source, target=target), progress)
    stranded = _versions_in_use() - set(target.versions())
    if stranded:
        # Only a writer still using the key file can cause this: it must be stopped first.
        raise KeyProviderError(
            f"keys under file versions {sorted(stranded)} appeared during the migration; run it again"
        )
    with transaction.atomic():
        event_record(
            action="key.migrate",
            context=RequestContext.system("manage.py migrate_master_keys"),
            extra={"rewrapped": done, "to": "pkcs11", "current_version": target.current_version()},
        )
    return done
