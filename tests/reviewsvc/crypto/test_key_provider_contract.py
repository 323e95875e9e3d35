"""The KeyProvider contract, run against every provider.

To add a backend, add one ``pytest.param`` to ``provider_factory``: a function that returns a
new provider instance on the same, initially empty, backend. The PKCS#11 provider runs against
a SoftHSM2 token (skipped, saying why, where SoftHSM2 is missing), each test in a label prefix
of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reviewsvc.crypto.errors import KeyProviderError, KeyUnwrapError
from reviewsvc.crypto.keys import KeyProvider, LocalKeyProvider, verify_signature, wrapped_key_version
from tests.softhsm import SoftHsmToken, destroy_prefix, new_prefix

ProviderFactory = Callable[[], KeyProvider]
CONTEXT = b"clip 7 of subject 3"
DATA_KEY = bytes(range(32))


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> ProviderFactory:
    return lambda: LocalKeyProvider(tmp_path / "keys" / "master.json")


def _pkcs11(request: pytest.FixtureRequest, tmp_path: Path) -> ProviderFactory:
    token: SoftHsmToken = request.getfixturevalue("softhsm")
    prefix = new_prefix()
    request.addfinalizer(lambda: destroy_prefix(token, prefix))
    return lambda: token.provider(prefix)


@pytest.fixture(params=[pytest.param(_local, id="local"), pytest.param(_pkcs11, id="pkcs11")])
def provider_factory(request: pytest.FixtureRequest, tmp_path: Path) -> ProviderFactory:
    return request.param(request, tmp_path)


@pytest.fixture
def provider(provider_factory: ProviderFactory) -> KeyProvider:
    return provider_factory()


def test_it_implements_the_protocol(provider: KeyProvider) -> None:
    assert isinstance(provider, KeyProvider)
    provider.check()


def test_a_wrapped_key_unwraps_with_its_context(provider: KeyProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    assert DATA_KEY not in wrapped
    assert wrapped_key_version(wrapped) == provider.current_version()
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_two_wraps_of_one_key_differ(provider: KeyProvider) -> None:
    assert provider.wrap(DATA_KEY, context=CONTEXT) != provider.wrap(DATA_KEY, context=CONTEXT)


def test_it_refuses_to_wrap_a_key_that_is_not_256_bit(provider: KeyProvider) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        provider.wrap(bytes(16), context=CONTEXT)


@pytest.mark.parametrize("other", [b"", b"clip 8 of subject 3", b"clip 7 of subject 4", CONTEXT + b"\x00"])
def test_it_refuses_to_unwrap_with_another_context(provider: KeyProvider, other: bytes) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(KeyUnwrapError):
        provider.unwrap(wrapped, context=other)


def test_it_refuses_a_wrapped_key_with_any_byte_changed(provider: KeyProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    for position in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x01
        with pytest.raises(KeyUnwrapError):
            provider.unwrap(bytes(tampered), context=CONTEXT)


def test_it_refuses_a_truncated_or_extended_wrapped_key(provider: KeyProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    for malformed in (b"", wrapped[:3], wrapped[:-1], wrapped + b"\x00"):
        with pytest.raises(KeyUnwrapError):
            provider.unwrap(malformed, context=CONTEXT)
    with pytest.raises(KeyUnwrapError):
        wrapped_key_version(wrapped[:3])


def test_it_refuses_a_wrapped_key_naming_an_unknown_version(provider: KeyProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(KeyUnwrapError, match="unknown or retired"):
        provider.unwrap((99).to_bytes(4, "big") + wrapped[4:], context=CONTEXT)


def test_after_rotation_new_wraps_use_the_new_version_and_old_wraps_still_unwrap(provider: KeyProvider) -> None:
    old = provider.wrap(DATA_KEY, context=CONTEXT)
    version = provider.rotate()
    assert version == provider.current_version() != wrapped_key_version(old)
    assert provider.versions() == sorted({wrapped_key_version(old), version})
    new = provider.wrap(DATA_KEY, context=CONTEXT)
    assert wrapped_key_version(new) == version
    assert provider.unwrap(old, context=CONTEXT) == provider.unwrap(new, context=CONTEXT) == DATA_KEY


def test_a_retired_version_makes_its_wraps_unrecoverable(provider: KeyProvider) -> None:
    old = provider.wrap(DATA_KEY, context=CONTEXT)
    provider.rotate()
    provider.retire(wrapped_key_version(old))
    assert wrapped_key_version(old) not in provider.versions()
    with pytest.raises(KeyUnwrapError, match="unknown or retired"):
        provider.unwrap(old, context=CONTEXT)


def test_a_retired_version_number_is_never_reused(provider: KeyProvider) -> None:
    first = provider.current_version()
    second = provider.rotate()
    provider.retire(first)
    assert provider.rotate() not in {first, second}


def test_it_refuses_to_retire_the_current_or_an_unknown_version(provider: KeyProvider) -> None:
    with pytest.raises(KeyProviderError, match="current"):
        provider.retire(provider.current_version())
    with pytest.raises(KeyProviderError, match="no master key version"):
        provider.retire(12345)
    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_its_signatures_verify_and_forgeries_do_not(provider: KeyProvider) -> None:
    public_key = provider.signing_public_key()
    signature = provider.sign(b"checkpoint 42")
    assert len(public_key) == 32
    assert verify_signature(public_key, b"checkpoint 42", signature)
    assert not verify_signature(public_key, b"checkpoint 43", signature)
    assert not verify_signature(public_key, b"checkpoint 42", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not verify_signature(public_key, b"checkpoint 42", signature[:10])
    assert not verify_signature(bytes(32), b"checkpoint 42", signature)
    assert not verify_signature(public_key[:31], b"checkpoint 42", signature)


def test_its_signing_key_survives_rotation(provider: KeyProvider) -> None:
    public_key = provider.signing_public_key()
    provider.rotate()
    assert provider.signing_public_key() == public_key
    assert verify_signature(public_key, b"m", provider.sign(b"m"))


def test_macs_are_per_purpose_and_stable_across_rotation_and_instances(
    provider_factory: ProviderFactory,
) -> None:
    first = provider_factory()
    mac = first.mac("subject", b"subject-42")
    assert len(mac) == 32
    assert first.mac("reviewer-for-subject", b"subject-42") != mac
    assert first.mac("subject", b"subject-43") != mac
    first.rotate()
    assert first.mac("subject", b"subject-42") == mac
    assert provider_factory().mac("subject", b"subject-42") == mac


def test_it_refuses_a_mac_without_purpose_or_of_an_unknown_purpose(provider: KeyProvider) -> None:
    with pytest.raises(ValueError, match="purpose"):
        provider.mac("", b"m")
    with pytest.raises(ValueError, match="unknown MAC purpose"):
        provider.mac("reviewer", b"m")


def test_a_second_instance_sees_a_rotation_made_by_the_first(provider_factory: ProviderFactory) -> None:
    first, second = provider_factory(), provider_factory()
    wrapped = first.wrap(DATA_KEY, context=CONTEXT)
    assert second.current_version() == first.current_version()
    version = first.rotate()
    assert second.current_version() == version
    assert second.unwrap(first.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY
    assert second.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_rotations_by_two_instances_keep_every_version(provider_factory: ProviderFactory) -> None:
    first, second = provider_factory(), provider_factory()
    second.check()  # second holds the keys as they were before first rotates
    first.rotate()
    second.rotate()
    assert len(first.versions()) == len(second.versions()) == 3


def test_a_bound_mac_function_is_the_providers_mac(provider: KeyProvider) -> None:
    bound = provider.mac_function("event-mac")
    assert bound(b"event body") == provider.mac("event-mac", b"event body")
    assert bound(b"another body") != bound(b"event body")
    with pytest.raises(ValueError, match="unknown MAC purpose"):
        provider.mac_function("reviewer")
