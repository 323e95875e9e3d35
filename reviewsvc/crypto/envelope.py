"""Envelope encryption: one random data key per object, wrapped by the key provider.

A blob is encrypted with its own data key (``streaming``); the data key is stored only wrapped
under a master key version. Both the blob and the wrapped key are bound to the same context
(``associated_data``): format version, kind, object id and subject id. A blob or wrapped key
copied into another object's row therefore fails to decrypt, and deleting the wrapped key makes
the blob unrecoverable (crypto-shredding).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reviewsvc.crypto import streaming
from reviewsvc.crypto.keys import KeyProvider, wrapped_key_version

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Sealed:
    """What to store for one encrypted object: the blob, its wrapped key and that key's version."""

    blob: bytearray
    wrapped_key: bytes
    key_version: int


def associated_data(*, kind: str, object_id: str, subject_id: str) -> bytes:
    """The canonical context binding a blob and its wrapped key to one object of one subject.

    Every field is length-prefixed, so no two different field tuples encode to the same bytes
    (``("a", "bc")`` and ``("ab", "c")`` differ).
    """
    for name, value in (("kind", kind), ("object_id", object_id), ("subject_id", subject_id)):
        if not value:
            raise ValueError(f"{name} must not be empty")
    fields = (b"reviewsvc", FORMAT_VERSION.to_bytes(4, "big"), kind.encode(), object_id.encode(), subject_id.encode())
    return b"".join(len(field).to_bytes(4, "big") + field for field in fields)


def new_data_key() -> bytes:
    """A fresh random 256-bit data key, used for exactly one blob."""
    return AESGCM.generate_key(256)


def seal(
    plaintext: bytes | bytearray | memoryview,
    *,
    provider: KeyProvider,
    kind: str,
    object_id: str,
    subject_id: str,
) -> Sealed:
    """Encrypt ``plaintext`` under a new data key and wrap that key with the provider."""
    context = associated_data(kind=kind, object_id=object_id, subject_id=subject_id)
    data_key = new_data_key()
    blob = streaming.encrypt(plaintext, key=data_key, associated_data=context)
    wrapped = provider.wrap(data_key, context=context)
    return Sealed(blob=blob, wrapped_key=wrapped, key_version=wrapped_key_version(wrapped))


def open_range(
    source: streaming.SeekableSource,
    *,
    provider: KeyProvider,
    wrapped_key: bytes,
    kind: str,
    object_id: str,
    subject_id: str,
    start: int = 0,
    stop: int | None = None,
    expected_size: int | None = None,
) -> Iterator[bytes]:
    """Yield plaintext ``[start, stop)`` of the blob in ``source`` (see ``streaming.decrypt_range``).

    The key is unwrapped and the blob's header, size and range are checked before this returns;
    KeyUnwrapError and DecryptionError are raised then, or by the iterator for a bad segment.
    """
    context = associated_data(kind=kind, object_id=object_id, subject_id=subject_id)
    data_key = provider.unwrap(wrapped_key, context=context)
    return streaming.decrypt_range(
        source, key=data_key, associated_data=context, start=start, stop=stop, expected_size=expected_size
    )


# Shadows the builtin on purpose: callers write envelope.open, the counterpart of envelope.seal.
def open(
    blob: bytes | bytearray | memoryview,
    *,
    provider: KeyProvider,
    wrapped_key: bytes,
    kind: str,
    object_id: str,
    subject_id: str,
) -> bytes:
    """Decrypt a whole blob held in memory (exports, tests)."""
    context = associated_data(kind=kind, object_id=object_id, subject_id=subject_id)
    data_key = provider.unwrap(wrapped_key, context=context)
    return streaming.decrypt(blob, key=data_key, associated_data=context)


def rewrap(wrapped_key: bytes, *, provider: KeyProvider, kind: str, object_id: str, subject_id: str) -> bytes:
    """Re-wrap a data key under the provider's current master key version, for rotation.

    The blob is untouched: rotation costs one unwrap and one wrap per object, not re-encryption.
    """
    context = associated_data(kind=kind, object_id=object_id, subject_id=subject_id)
    return provider.wrap(provider.unwrap(wrapped_key, context=context), context=context)
