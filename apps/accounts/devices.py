"""Key rotation for TOTP seeds: their data keys are re-wrapped like every other wrapped key."""

from __future__ import annotations

from apps.accounts.models import EncryptedTOTPDevice
from apps.common.keys import WrappedKeyHolder, rows_rewrap
from reviewsvc.crypto.keys import KeyProvider


def totp_seeds_rewrap(*, provider: KeyProvider, batch_size: int) -> int:
    return rows_rewrap(
        EncryptedTOTPDevice.objects.order_by("pk"),
        provider=provider,
        batch_size=batch_size,
        seal_context=lambda device: device.seal_context(),
    )


def totp_seed_versions_in_use() -> set[int]:
    return set(EncryptedTOTPDevice.objects.values_list("key_version", flat=True).distinct())


TOTP_SEED_HOLDER = WrappedKeyHolder(
    name="totp_seeds", rewrap_batch=totp_seeds_rewrap, versions_in_use=totp_seed_versions_in_use
)
