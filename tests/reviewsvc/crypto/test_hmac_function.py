"""The bound HMAC-SHA256 the verifier uses is HMAC-SHA256, for every key and message length."""

from __future__ import annotations

import hmac
import secrets

import pytest

from reviewsvc.crypto.keys import hmac_sha256_function

# RFC 4231, test cases 1, 2 and 6 (a key longer than the block)
RFC_4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]


@pytest.mark.parametrize(("key", "message", "tag"), RFC_4231)
def test_it_gives_the_rfc_4231_tags(key: bytes, message: bytes, tag: str) -> None:
    assert hmac_sha256_function(key)(message).hex() == tag


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
def test_it_agrees_with_hmac_digest_for_every_key_size_and_message(key_size: int) -> None:
    key = secrets.token_bytes(key_size)
    mac = hmac_sha256_function(key)
    for size in (0, 1, 55, 64, 65, 230, 5000):
        message = secrets.token_bytes(size)
        assert mac(message) == hmac.digest(key, message, "sha256")


def test_calls_do_not_share_state() -> None:
    mac = hmac_sha256_function(b"k" * 32)
    first = mac(b"one")
    mac(b"two")
    assert mac(b"one") == first
    assert hmac_sha256_function(b"other key")(b"one") != first
