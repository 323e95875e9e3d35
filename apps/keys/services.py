"""Master-key rotation across every holder of wrapped keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.keys import key_provider, pkcs11_provider, wrapped_key_holders
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


def wrapped_keys_rewrap(*, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-wrap every wrapped key under the current version, then retire versions nobody uses."""
    provider = key_provider()
    done = _rewrap_all(provider, progress)
    in_use = _versions_in_use()
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
