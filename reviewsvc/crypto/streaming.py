"""Segmented AES-256-GCM (Tink streaming-AEAD style) for audio blobs served by range.

Format, all integers big-endian::

    header   = 0x01 (format) | segment_size (u32) | nonce_prefix (7 random bytes)      12 bytes
    segment  = AES-256-GCM(key, nonce, plaintext_chunk, aad) = chunk | tag (16 bytes)
    nonce    = nonce_prefix (7) | segment index (u32) | last flag (0x01 last, else 0x00)
    aad      = header | caller's associated_data
    blob     = header | segment_0 | ... | segment_{n-1}

The plaintext is cut into ``segment_size`` chunks; only the last may be shorter, and an empty
plaintext is one empty last segment. Every segment is authenticated on its own, so a range
decrypts only the segments it touches, and:

- a reordered, dropped or duplicated segment fails: its index is in the nonce;
- a truncated blob fails: its new final segment is not flagged last in the nonce, or the blob
  size no longer splits into whole segments;
- a changed header or different associated data fails: both are in every segment's AAD.

A segment's plaintext is released only after its tag has been checked. ``cryptography``'s
incremental GCM decryptor hands out plaintext before the tag is verified, so it is never used.

Range reads and truncation: the segment count is derived from the blob size, and only the final
segment is decrypted as "last". A blob cut at a segment boundary therefore fails as soon as its
final segment is read. A range that touches only earlier segments of a truncated blob is served
when the caller cannot say how long the plaintext should be: those segments are authentic, and a
request that reaches the end of the blob is refused. A caller that recorded the plaintext size
passes it as ``expected_size``, and then any blob of another length is refused on every range.

Nonce uniqueness: each blob is meant to get its own data key (see ``envelope``); the random
prefix additionally keeps nonces apart if a key were reused for a few blobs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reviewsvc.crypto.errors import DecryptionError

FORMAT = 0x01
HEADER_SIZE = 12
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
KEY_SIZE = 32
# 64 KiB: a Range request decrypts at most one segment more than it needs at each end, and every
# per-segment allocation stays under glibc's default mmap threshold (128 KiB), above which fresh
# pages made throughput erratic. bench/bench_crypto.py compares other sizes.
SEGMENT_SIZE = 64 * 1024
# The header is read before anything is authenticated: bound what a forged header can make us
# read and allocate per segment.
MAX_SEGMENT_SIZE = 1024 * 1024
# The segment index is a u32 in the nonce; it must never wrap around.
MAX_SEGMENTS = 2**32


class _Layout(NamedTuple):
    """Where the segments of one blob lie, derived from its header and size."""

    header: bytes
    segment_size: int
    segment_count: int
    plaintext_size: int


def ciphertext_size(plaintext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Return the exact size of the blob that ``encrypt`` makes of ``plaintext_size`` bytes."""
    check_segment_size(segment_size)
    if plaintext_size < 0:
        raise ValueError("plaintext size must not be negative")
    segments = _segment_count(plaintext_size, segment_size)
    if segments > MAX_SEGMENTS:
        raise ValueError("plaintext too large for this segment size")
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def plaintext_size(*, header: bytes, blob_size: int) -> int:
    """Return the plaintext size of a blob of ``blob_size`` bytes starting with ``header``.

    Raises DecryptionError if the header is not ours or the size cannot be a whole blob.
    """
    return _layout(header=header, blob_size=blob_size).plaintext_size


def _layout(*, header: bytes, blob_size: int) -> _Layout:
    """Parse the header and check that ``blob_size`` splits into whole segments."""
    if len(header) != HEADER_SIZE or header[0] != FORMAT:
        raise DecryptionError("not a reviewsvc encrypted blob (bad header)")
    segment_size = int.from_bytes(header[1:5], "big")
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise DecryptionError("blob header declares an invalid segment size")
    body = blob_size - HEADER_SIZE
    stride = segment_size + TAG_SIZE
    count = -(-body // stride)
    last_plaintext = body - (count - 1) * stride - TAG_SIZE
    # encrypt() only writes an empty segment for an empty plaintext; any other layout is a
    # truncated or padded blob.
    if count < 1 or last_plaintext < 0 or (count > 1 and last_plaintext == 0):
        raise DecryptionError("blob is truncated or malformed")
    if count > MAX_SEGMENTS:
        raise DecryptionError("blob has too many segments")
    return _Layout(bytes(header), segment_size, count, (count - 1) * segment_size + last_plaintext)


def encrypt(
    plaintext: bytes | bytearray | memoryview,
    *,
    key: bytes,
    associated_data: bytes,
    segment_size: int = SEGMENT_SIZE,
) -> bytearray:
    """Encrypt ``plaintext`` into a new blob (see the module docstring for the format)."""
    return _encrypt_with_prefix(
        plaintext,
        key=key,
        associated_data=associated_data,
        segment_size=segment_size,
        nonce_prefix=os.urandom(NONCE_PREFIX_SIZE),
    )


def _encrypt_with_prefix(
    plaintext: bytes | bytearray | memoryview,
    *,
    key: bytes,
    associated_data: bytes,
    segment_size: int,
    nonce_prefix: bytes,
) -> bytearray:
    """Encrypt with a given nonce prefix; only known-answer tests call this directly."""
    _check_key(key)
    source = memoryview(plaintext).cast("B")
    size = source.nbytes
    # One buffer of the exact final size, filled in place by encrypt_into: allocating a new
    # bytes object per segment and joining them was more than 10x slower than one-shot GCM.
    blob = bytearray(ciphertext_size(size, segment_size))
    target = memoryview(blob)
    head = blob_header(segment_size=segment_size, nonce_prefix=nonce_prefix)
    target[:HEADER_SIZE] = head
    aad = head + associated_data
    aead = AESGCM(key)
    count = _segment_count(size, segment_size)
    offset = HEADER_SIZE
    for index in range(count):
        chunk = source[index * segment_size : (index + 1) * segment_size]
        end = offset + len(chunk) + TAG_SIZE
        nonce = segment_nonce(nonce_prefix, index, last=index == count - 1)
        aead.encrypt_into(nonce, chunk, aad, target[offset:end])
        offset = end
    return blob


class SeekableSource(Protocol):
    """What decryption reads from: a Django storage file, an open file, BytesIO, a window."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, size: int = ..., /) -> bytes: ...


def decrypt_range(
    source: SeekableSource,
    *,
    key: bytes,
    associated_data: bytes,
    start: int = 0,
    stop: int | None = None,
    expected_size: int | None = None,
) -> Iterator[bytes]:
    """Yield plaintext ``[start, stop)`` of the blob in the seekable ``source``.

    Only the segments covering the range are read and decrypted, each authenticated before any
    of its bytes are yielded; on a failure DecryptionError is raised instead of that segment.
    Header, size and range are checked before this returns, so a caller can answer an invalid
    range before it starts a response. Even an empty range authenticates one segment.

    ``expected_size``: the plaintext size recorded when the blob was written. A blob of any other
    size was cut short, lost a segment or grew, and is refused (DecryptionError) whatever range
    is asked for, exactly as a flipped bit is.
    """
    _check_key(key)
    source.seek(0)
    header = _read_exactly(source, HEADER_SIZE)
    blob_size = source.seek(0, os.SEEK_END)
    shape = _layout(header=header, blob_size=blob_size)
    if expected_size is not None and shape.plaintext_size != expected_size:
        raise DecryptionError("blob size differs from the recorded size: truncated or segments dropped")
    if stop is None:
        stop = shape.plaintext_size
    if not 0 <= start <= stop <= shape.plaintext_size:
        raise ValueError(f"range [{start}, {stop}) outside plaintext of {shape.plaintext_size}")
    return _decrypt_segments(source, AESGCM(key), header + associated_data, shape, start, stop)


def decrypt(blob: bytes | bytearray | memoryview, *, key: bytes, associated_data: bytes) -> bytes:
    """Decrypt a whole blob held in memory (exports, tests)."""
    return b"".join(decrypt_range(io.BytesIO(blob), key=key, associated_data=associated_data))


def _decrypt_segments(
    source: SeekableSource, aead: AESGCM, aad: bytes, shape: _Layout, start: int, stop: int
) -> Iterator[bytes]:
    size = shape.segment_size
    last_index = shape.segment_count - 1
    first = min(start // size, last_index)
    final = min(max(start, stop - 1) // size, last_index)
    prefix = shape.header[5:]
    source.seek(HEADER_SIZE + first * (size + TAG_SIZE))
    for index in range(first, final + 1):
        chunk_size = min(size, shape.plaintext_size - index * size)
        sealed = _read_exactly(source, chunk_size + TAG_SIZE)
        nonce = segment_nonce(prefix, index, last=index == last_index)
        try:
            # One-shot per segment: the plaintext comes back only once the tag has verified, in a
            # fresh object that is yielded without a copy. Faster than decrypt_into a reused
            # buffer plus a copy out (bench/bench_crypto.py), and no unauthenticated bytes ever
            # sit in a buffer of ours.
            plain = aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise DecryptionError(f"segment {index} failed authentication") from None
        low = max(start - index * size, 0)
        high = min(stop - index * size, chunk_size)
        if low < high:
            yield plain if high - low == chunk_size else plain[low:high]


def _read_exactly(source: SeekableSource, size: int) -> bytes:
    data = source.read(size)
    # Unbuffered streams may return short reads; keep reading until EOF.
    while len(data) < size:
        more = source.read(size - len(data))
        if not more:
            raise DecryptionError("blob is truncated")
        data += more
    return data


def blob_header(*, segment_size: int, nonce_prefix: bytes) -> bytes:
    """The blob header; also the start of every segment's associated data. Shared with the export bundle."""
    check_segment_size(segment_size)
    return bytes([FORMAT]) + segment_size.to_bytes(4, "big") + nonce_prefix


def segment_nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    """The nonce of segment ``index``; the last flag stops truncation at a segment boundary."""
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _segment_count(plaintext_size: int, segment_size: int) -> int:
    return max(1, -(-plaintext_size // segment_size))


def check_segment_size(segment_size: int) -> None:
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment size must be between 1 and {MAX_SEGMENT_SIZE}")


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError("key must be 32 bytes (AES-256)")
