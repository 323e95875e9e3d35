"""reviewsvc.crypto.streaming: format, ranges, and refusal of every kind of tampered blob."""

from __future__ import annotations

import array
import io
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewsvc.crypto import streaming
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.crypto.streaming import (
    HEADER_SIZE,
    MAX_SEGMENT_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    ciphertext_size,
    decrypt,
    decrypt_range,
    encrypt,
    plaintext_size,
)

KEY = bytes(range(32))
AD = b"clip 7 of subject 3"
SMALL = 64  # segment size for property tests: many segments from little data
STRIDE = SMALL + TAG_SIZE
PLAINTEXT = bytes(range(256)) * 2  # 512 bytes: 8 full segments of SMALL
PARTIAL = PLAINTEXT[: 3 * SMALL + 10]  # 3 full segments and a short last one


def seal(plaintext: bytes, segment_size: int = SMALL) -> bytes:
    return bytes(encrypt(plaintext, key=KEY, associated_data=AD, segment_size=segment_size))


def segments(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_SIZE:]
    return blob[:HEADER_SIZE], [body[i : i + STRIDE] for i in range(0, len(body), STRIDE)]


def read(
    blob: bytes, *, key: bytes = KEY, ad: bytes = AD, start: int = 0, stop: int | None = None
) -> tuple[bytes, DecryptionError | None]:
    """Everything the iterator released, and the error that stopped it, if any."""
    released = []
    try:
        for chunk in decrypt_range(io.BytesIO(blob), key=key, associated_data=ad, start=start, stop=stop):
            released.append(chunk)
    except DecryptionError as exc:
        return b"".join(released), exc
    return b"".join(released), None


def assert_refused(
    blob: bytes,
    *,
    released: bytes = b"",
    key: bytes = KEY,
    ad: bytes = AD,
    start: int = 0,
    stop: int | None = None,
) -> None:
    """Decryption fails, having released only ``released``: the authentic segments before the bad one."""
    got, error = read(blob, key=key, ad=ad, start=start, stop=stop)
    assert error is not None
    assert got == released


# -- known answer -----------------------------------------------------------------------------

KAT_KEY = bytes(range(32))
KAT_PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
KAT_PLAINTEXT = b"reviewsvc known-answer vector: two segments"  # 43 bytes: 32 + 11
KAT_BLOB = bytes.fromhex(
    "0100000020a0a1a2a3a4a5a6"  # format 1, segment size 32, nonce prefix
    "78b46ac0f323364b0f03afeef6773846b3af3c321e15dd776a348e8d46f56d81259703293bc11ff29d18562bd893a4c0"
    "9e69e09a654df65ada2b92090e8354f4bcac04543329bc05f90956"
)


def test_it_matches_the_known_answer_vector() -> None:
    blob = streaming._encrypt_with_prefix(
        KAT_PLAINTEXT, key=KAT_KEY, associated_data=b"kat", segment_size=32, nonce_prefix=KAT_PREFIX
    )
    assert bytes(blob) == KAT_BLOB
    assert decrypt(KAT_BLOB, key=KAT_KEY, associated_data=b"kat") == KAT_PLAINTEXT


def test_the_known_answer_vector_follows_the_documented_nonce_and_aad() -> None:
    # Rebuilt with plain one-shot AES-GCM from the module docstring, independently of the code.
    header = KAT_BLOB[:HEADER_SIZE]
    aead = AESGCM(KAT_KEY)
    first = aead.encrypt(KAT_PREFIX + bytes(4) + b"\x00", KAT_PLAINTEXT[:32], header + b"kat")
    last = aead.encrypt(KAT_PREFIX + (1).to_bytes(4, "big") + b"\x01", KAT_PLAINTEXT[32:], header + b"kat")
    assert KAT_BLOB == header + first + last


# -- round trips and sizes --------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(min_value=0, max_value=4 * SMALL + 1))
def test_every_range_of_every_size_decrypts_to_the_same_slice(data: st.DataObject, size: int) -> None:
    plaintext = bytes(i % 251 for i in range(size))
    blob = seal(plaintext)
    start = data.draw(st.integers(min_value=0, max_value=size))
    stop = data.draw(st.integers(min_value=start, max_value=size))
    assert read(blob, start=start, stop=stop) == (plaintext[start:stop], None)


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE + 7])
def test_default_segment_size_round_trips(size: int) -> None:
    plaintext = bytes(i % 251 for i in range(size))
    blob = encrypt(plaintext, key=KEY, associated_data=AD)
    assert len(blob) == ciphertext_size(size)
    assert decrypt(blob, key=KEY, associated_data=AD) == plaintext
    middle = (size // 3, size - size // 3)
    assert read(bytes(blob), start=middle[0], stop=middle[1]) == (plaintext[middle[0] : middle[1]], None)


@pytest.mark.parametrize(("size", "segments_count"), [(0, 1), (1, 1), (SMALL, 1), (SMALL + 1, 2), (4 * SMALL, 4)])
def test_sizes_follow_the_segment_layout(size: int, segments_count: int) -> None:
    expected = HEADER_SIZE + size + segments_count * TAG_SIZE
    blob = seal(bytes(size))
    assert ciphertext_size(size, SMALL) == expected == len(blob)
    assert plaintext_size(header=blob[:HEADER_SIZE], blob_size=len(blob)) == size


def test_it_encrypts_bytearrays_and_memoryviews_of_any_item_size() -> None:
    samples = array.array("h", range(100))
    for plaintext in (bytearray(samples.tobytes()), memoryview(samples)):
        blob = encrypt(plaintext, key=KEY, associated_data=AD, segment_size=SMALL)
        assert isinstance(blob, bytearray)
        assert decrypt(blob, key=KEY, associated_data=AD) == samples.tobytes()


def test_two_encryptions_of_the_same_plaintext_differ() -> None:
    assert seal(PLAINTEXT) != seal(PLAINTEXT)


def test_it_reads_sources_that_return_short_reads() -> None:
    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(size if size is not None and size >= 0 else 7, 7))

    source = Trickle(seal(PARTIAL))
    assert b"".join(decrypt_range(source, key=KEY, associated_data=AD)) == PARTIAL


def test_an_empty_range_still_authenticates_a_segment() -> None:
    header, parts = segments(seal(PLAINTEXT))
    parts[-1] = parts[-1][:-1] + bytes([parts[-1][-1] ^ 1])
    assert_refused(header + b"".join(parts), start=len(PLAINTEXT), stop=len(PLAINTEXT))


# -- argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(24), bytes(33)])
def test_it_refuses_keys_that_are_not_256_bit(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt(b"x", key=key, associated_data=AD)
    with pytest.raises(ValueError, match="32 bytes"):
        decrypt_range(io.BytesIO(seal(b"x")), key=key, associated_data=AD)


@pytest.mark.parametrize("segment_size", [0, -1, MAX_SEGMENT_SIZE + 1])
def test_it_refuses_segment_sizes_out_of_bounds(segment_size: int) -> None:
    with pytest.raises(ValueError, match="segment size"):
        encrypt(b"x", key=KEY, associated_data=AD, segment_size=segment_size)


def test_it_refuses_sizes_whose_segment_index_would_wrap() -> None:
    with pytest.raises(ValueError, match="too large"):
        ciphertext_size(2**32 + 1, 1)
    with pytest.raises(ValueError, match="negative"):
        ciphertext_size(-1)


@pytest.mark.parametrize(("start", "stop"), [(-1, 10), (10, 9), (0, len(PARTIAL) + 1), (len(PARTIAL) + 1, None)])
def test_it_refuses_ranges_outside_the_plaintext_before_reading_any_segment(start: int, stop: int | None) -> None:
    with pytest.raises(ValueError, match="range"):
        decrypt_range(io.BytesIO(seal(PARTIAL)), key=KEY, associated_data=AD, start=start, stop=stop)


# -- hostile blobs: nothing of a bad segment is ever released ---------------------------------


def test_it_refuses_a_blob_truncated_inside_the_last_segment() -> None:
    assert_refused(seal(PARTIAL)[:-1], released=PARTIAL[: 3 * SMALL])


@pytest.mark.parametrize("cut", range(1, TAG_SIZE + 1))
def test_it_refuses_a_blob_whose_last_segment_is_shorter_than_a_tag(cut: int) -> None:
    blob = seal(PLAINTEXT[: 2 * SMALL])
    header, parts = segments(blob)
    assert_refused(header + parts[0] + parts[1][: TAG_SIZE - cut])


def test_it_refuses_a_blob_truncated_at_a_segment_boundary_when_its_end_is_read() -> None:
    header, parts = segments(seal(PARTIAL))
    assert_refused(header + b"".join(parts[:2]), released=PARTIAL[:SMALL])


def test_it_serves_authentic_early_segments_of_a_truncated_blob_but_not_its_end() -> None:
    header, parts = segments(seal(PARTIAL))
    truncated = header + b"".join(parts[:2])
    assert read(truncated, start=0, stop=SMALL) == (PARTIAL[:SMALL], None)
    assert_refused(truncated, start=SMALL, stop=SMALL + 1)


def test_it_refuses_a_blob_cut_down_to_its_header() -> None:
    blob = seal(PARTIAL)
    for size in (0, 5, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1):
        assert_refused(blob[:size])


def test_it_refuses_a_blob_with_an_appended_empty_segment() -> None:
    blob = seal(PLAINTEXT[: 2 * SMALL])
    assert_refused(blob + bytes(TAG_SIZE))


@pytest.mark.parametrize(
    ("name", "rearrange", "authentic_prefix"),
    [
        ("dropped", lambda p: [p[0], p[2], p[3]], SMALL),
        ("duplicated", lambda p: [p[0], p[1], p[1], p[2], p[3]], 2 * SMALL),
        ("reordered", lambda p: [p[0], p[2], p[1], p[3]], SMALL),
        ("last moved first", lambda p: [p[3], p[0], p[1], p[2]], 0),
        ("last segment dropped", lambda p: [p[0], p[1], p[2]], 2 * SMALL),
    ],
)
def test_it_refuses_rearranged_segments(
    name: str, rearrange: Callable[[list[bytes]], list[bytes]], authentic_prefix: int
) -> None:
    header, parts = segments(seal(PARTIAL))
    assert_refused(header + b"".join(rearrange(parts)), released=PARTIAL[:authentic_prefix])


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=ciphertext_size(len(PARTIAL), SMALL) - 1), bit=st.integers(0, 7))
def test_one_flipped_bit_anywhere_is_refused_before_its_segment_is_released(position: int, bit: int) -> None:
    tampered = bytearray(seal(PARTIAL))
    tampered[position] ^= 1 << bit
    bad_segment = 0 if position < HEADER_SIZE else (position - HEADER_SIZE) // STRIDE
    assert_refused(bytes(tampered), released=PARTIAL[: bad_segment * SMALL])


def test_it_refuses_a_header_with_another_format_or_segment_size() -> None:
    blob = seal(PARTIAL)
    other_format = b"\x02" + blob[1:]
    other_size = blob[:1] + (SMALL + 1).to_bytes(4, "big") + blob[5:]
    zero_size = blob[:1] + bytes(4) + blob[5:]
    huge_size = blob[:1] + (MAX_SEGMENT_SIZE + 1).to_bytes(4, "big") + blob[5:]
    for tampered in (other_format, other_size, zero_size, huge_size):
        assert_refused(tampered)


def test_it_refuses_a_blob_claiming_more_segments_than_the_index_can_count() -> None:
    header = b"\x01" + (1).to_bytes(4, "big") + bytes(7)
    with pytest.raises(DecryptionError, match="too many segments"):
        plaintext_size(header=header, blob_size=HEADER_SIZE + (2**32 + 1) * (1 + TAG_SIZE))


@pytest.mark.parametrize("other", [b"", b"clip 8 of subject 3", b"clip 7 of subject 4", AD + b"\x00"])
def test_it_refuses_other_associated_data(other: bytes) -> None:
    assert_refused(seal(PARTIAL), ad=other)


def test_it_refuses_another_key() -> None:
    assert_refused(seal(PARTIAL), key=bytes(32))


def test_decrypt_raises_for_a_tampered_whole_blob() -> None:
    blob = bytearray(seal(PARTIAL))
    blob[-1] ^= 0x80
    with pytest.raises(DecryptionError):
        decrypt(blob, key=KEY, associated_data=AD)


@pytest.mark.parametrize(
    "damaged",
    [
        lambda blob: blob[:-3],  # cut inside the last segment
        lambda blob: blob[: HEADER_SIZE + 2 * STRIDE],  # cut at a segment boundary
        lambda blob: blob[: HEADER_SIZE + STRIDE] + blob[HEADER_SIZE + 2 * STRIDE :],  # segment 1 dropped
    ],
    ids=["truncated", "cut-at-boundary", "segment-dropped"],
)
def test_with_the_recorded_size_any_range_of_a_shortened_blob_is_refused(damaged) -> None:
    blob = damaged(seal(PARTIAL))
    with pytest.raises(DecryptionError, match="recorded size"):
        decrypt_range(io.BytesIO(blob), key=KEY, associated_data=AD, start=0, stop=10, expected_size=len(PARTIAL))


def test_with_the_recorded_size_an_intact_blob_decrypts() -> None:
    chunks = decrypt_range(io.BytesIO(seal(PARTIAL)), key=KEY, associated_data=AD, expected_size=len(PARTIAL))
    assert b"".join(chunks) == PARTIAL
