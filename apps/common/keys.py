"""The configured key provider, and the registry of everything that holds a wrapped data key.

Master-key rotation re-wraps every registered kind of wrapped key (clips, transcripts, TOTP
seeds); each app registers its own in ``AppConfig.ready`` so rotation needs no list to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import QuerySet

from reviewsvc.crypto import envelope
from reviewsvc.crypto.keys import KeyProvider, LocalKeyProvider


@lru_cache(maxsize=4)
def _provider(kind: str, key_file: str, create_if_missing: bool) -> KeyProvider:
    if kind == "local":
        return LocalKeyProvider(Path(key_file), create_if_missing=create_if_missing)
    raise ImproperlyConfigured(f"REVIEWSVC_KEY_PROVIDER={kind!r} has no adapter installed")


def key_provider() -> KeyProvider:
    return _provider(settings.REVIEWSVC_KEY_PROVIDER, settings.REVIEWSVC_KEY_FILE, settings.REVIEWSVC_KEY_FILE_CREATE)


@dataclass(frozen=True)
class WrappedKeyHolder:
    """One kind of row holding wrapped keys.

    ``rewrap_batch(provider, batch_size)`` re-wraps up to ``batch_size`` keys that are not under
    the current version and returns how many it did (0 when none are left);
    ``versions_in_use()`` lists the master-key versions still referenced.
    """

    name: str
    rewrap_batch: Callable[..., int]
    versions_in_use: Callable[[], set[int]]


_holders: dict[str, WrappedKeyHolder] = {}


def rows_rewrap(
    rows: QuerySet, *, provider: KeyProvider, batch_size: int, seal_context: Callable[[Any], dict[str, str]]
) -> int:
    """Re-wrap, under the current version, up to ``batch_size`` of ``rows`` whose key is under another.

    The one re-wrap of a data key every holder uses: ``seal_context(row)`` gives the ``kind``,
    ``object_id`` and ``subject_id`` it was sealed under. Locked rows are skipped (a login holding
    its device, a sweep holding its clips); they stay under their version, which then stays in use
    and is not retired.
    """
    current = provider.current_version()
    with transaction.atomic():
        batch = list(
            rows.select_for_update(skip_locked=True, of=("self",))
            .filter(wrapped_key__isnull=False)
            .exclude(key_version=current)[:batch_size]
        )
        for row in batch:
            row.wrapped_key = envelope.rewrap(bytes(row.wrapped_key), provider=provider, **seal_context(row))
            row.key_version = current
        rows.model.objects.bulk_update(batch, ["wrapped_key", "key_version"])
    return len(batch)


def register_wrapped_key_holder(holder: WrappedKeyHolder) -> None:
    _holders[holder.name] = holder


def wrapped_key_holders() -> list[WrappedKeyHolder]:
    return list(_holders.values())
