"""MigratingKeyProvider: unwraps under whichever provider holds the version, does all else with the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewsvc.crypto.errors import KeyProviderError
from reviewsvc.crypto.keys import LocalKeyProvider, MigratingKeyProvider, verify_signature, wrapped_key_version

CONTEXT = b"clip 1 of subject 1"
DATA_KEY = bytes(range(32))


@pytest.fixture
def source(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path / "source.json")


@pytest.fixture
def target(tmp_path: Path) -> LocalKeyProvider:
    target = LocalKeyProvider(tmp_path / "target.json")
    target.rotate()
    target.retire(1)  # the target's versions start above the source's
    return target


def test_it_unwraps_under_either_provider_and_wraps_under_the_target(source, target) -> None:
    both = MigratingKeyProvider(source=source, target=target)
    old, new = source.wrap(DATA_KEY, context=CONTEXT), target.wrap(DATA_KEY, context=CONTEXT)
    assert both.unwrap(old, context=CONTEXT) == both.unwrap(new, context=CONTEXT) == DATA_KEY
    rewrapped = both.wrap(both.unwrap(old, context=CONTEXT), context=CONTEXT)
    assert wrapped_key_version(rewrapped) == both.current_version() == target.current_version() == 2
    assert target.unwrap(rewrapped, context=CONTEXT) == DATA_KEY
    assert both.versions() == target.versions() == [2]


def test_everything_but_unwrapping_is_the_targets(source, target) -> None:
    both = MigratingKeyProvider(source=source, target=target)
    both.check()
    assert both.signing_public_key() == target.signing_public_key() != source.signing_public_key()
    assert verify_signature(target.signing_public_key(), b"m", both.sign(b"m"))
    assert both.mac("subject", b"s") == target.mac("subject", b"s") != source.mac("subject", b"s")
    assert both.mac_function("event-mac")(b"e") == target.mac("event-mac", b"e") != source.mac("event-mac", b"e")
    assert both.rotate() == 3
    both.retire(2)
    assert target.versions() == [3]
    assert source.versions() == [1]


def test_it_refuses_providers_whose_version_numbers_overlap(source, tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError, match="share master key version numbers"):
        MigratingKeyProvider(source=source, target=LocalKeyProvider(tmp_path / "other.json"))
