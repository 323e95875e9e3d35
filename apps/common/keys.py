"""The configured key provider, and the registry of everything that holds a wrapped data key.

Master-key rotation re-wraps every registered kind of wrapped key (clips, transcripts, TOTP
seeds); each app registers its own in ``AppConfig.ready`` so rotation needs no list to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import QuerySet

from reviewsvc.crypto import envelope
from reviewsvc.crypto.keys import KeyProvider, LocalKeyProvider

if TYPE_CHECKING:
    from reviewsvc.crypto.hsm import Pkcs11KeyProvider


@lru_cache(maxsize=4)
def _local(key_file: str, create_if_missing: bool) -> KeyProvider:
    return LocalKeyProvider(Path(key_file), create_if_missing=create_if_missing)


@lru_cache(maxsize=4)
def _pkcs11(module: str, token: str, pin: str, prefix: str, create_if_missing: bool) -> Pkcs11KeyProvider:
    # Imported here: python-pkcs11 loads only where the pkcs11 provider is configured.
    from reviewsvc.crypto.hsm import Pkcs11KeyProvider

    return Pkcs11KeyProvider(
        module_path=module, token_label=token, pin=pin, prefix=prefix, create_if_missing=create_if_missing
    )


def key_provider() -> KeyProvider:
    kind = settings.REVIEWSVC_KEY_PROVIDER
    if kind == "local":
        return _local(settings.REVIEWSVC_KEY_FILE, settings.REVIEWSVC_KEY_FILE_CREATE)
    if kind == "pkcs11":
        return pkcs11_provider()
    raise ImproperlyConfigured(f"REVIEWSVC_KEY_PROVIDER={kind!r} has no adapter installed")


def pkcs11_provider() -> Pkcs11KeyProvider:
    """The PKCS#11 provider the settings describe, whichever provider is the configured one."""
    for name in ("REVIEWSVC_PKCS11_MODULE", "REVIEWSVC_PKCS11_TOKEN", "REVIEWSVC_PKCS11_PIN"):
        if not getattr(settings, name):
            raise ImproperlyConfigured(f"{name} must be set for the pkcs11 key provider")
    return _pkcs11(
        settings.REVIEWSVC_PKCS11_MODULE,
        settings.REVIEWSVC_PKCS11_TOKEN,
        settings.REVIEWSVC_PKCS11_PIN,
        settings.REVIEWSVC_PKCS11_KEY_PREFIX,
        settings.REVIEWSVC_PKCS11_CREATE_KEYS,
    )


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
