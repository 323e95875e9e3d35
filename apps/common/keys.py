"""The configured key provider, and the registry of everything that holds a wrapped data key.

Master-key rotation re-wraps every registered kind of wrapped key (clips, transcripts, TOTP
seeds); each app registers its own in ``AppConfig.ready`` so rotation needs no list to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

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


def register_wrapped_key_holder(holder: WrappedKeyHolder) -> None:
    _holders[holder.name] = holder


def wrapped_key_holders() -> list[WrappedKeyHolder]:
    return list(_holders.values())
