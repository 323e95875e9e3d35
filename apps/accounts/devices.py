"""Key rotation for TOTP seeds: their data keys are re-wrapped like every other wrapped key."""

from __future__ import annotations

from django.db import transaction

from apps.accounts.models import EncryptedTOTPDevice
from apps.common.keys import WrappedKeyHolder
from reviewsvc.crypto import envelope
from reviewsvc.crypto.keys import KeyProvider, wrapped_key_version


def totp_seeds_rewrap(*, provider: KeyProvider, batch_size: int) -> int:
    current = provider.current_version()
    with transaction.atomic():
        devices = list(
            EncryptedTOTPDevice.objects.select_for_update().exclude(key_version=current).order_by("pk")[:batch_size]
        )
        for device in devices:
            wrapped = envelope.rewrap(bytes(device.wrapped_key), provider=provider, **device.seal_context())
            EncryptedTOTPDevice.objects.filter(pk=device.pk).update(
                wrapped_key=wrapped, key_version=wrapped_key_version(wrapped)
            )
    return len(devices)


def totp_seed_versions_in_use() -> set[int]:
    return set(EncryptedTOTPDevice.objects.values_list("key_version", flat=True).distinct())


TOTP_SEED_HOLDER = WrappedKeyHolder(
    name="totp_seeds", rewrap_batch=totp_seeds_rewrap, versions_in_use=totp_seed_versions_in_use
)
