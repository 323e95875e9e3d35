"""Exceptions of reviewsvc.crypto.

Messages name what failed, never key material, plaintext or ciphertext bytes, so they are safe
to log.
"""


class CryptoError(Exception):
    """Base class of every error raised by reviewsvc.crypto."""


class DecryptionError(CryptoError):
    """A blob or a wrapped key failed authentication or is structurally malformed.

    Nothing of the failing segment has been released when this is raised.
    """


class KeyUnwrapError(DecryptionError):
    """A wrapped data key cannot be unwrapped: wrong context, unknown or retired version, tamper."""


class KeyProviderError(CryptoError):
    """A key provider refused an operation (e.g. retiring the current master key version)."""


class KeyProviderUnavailable(KeyProviderError):
    """The key provider cannot be reached or its keys cannot be loaded safely."""
