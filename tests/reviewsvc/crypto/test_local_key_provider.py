"""LocalKeyProvider specifics: file permissions, atomic updates, locking, malformed files."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from reviewsvc.crypto.errors import KeyProviderUnavailable
from reviewsvc.crypto.keys import LocalKeyProvider

CONTEXT = b"ctx"
DATA_KEY = bytes(32)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "master.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_the_key_file_readable_by_its_owner_only_even_under_a_lax_umask(key_file: Path) -> None:
    previous = os.umask(0)
    try:
        LocalKeyProvider(key_file).check()
    finally:
        os.umask(previous)
    assert mode(key_file) == 0o600
    assert mode(key_file.parent) == 0o700
    assert mode(key_file.with_name("master.json.lock")) == 0o600
    doc = json.loads(key_file.read_bytes())
    assert doc["format"] == 1
    assert doc["current"] == 1
    assert sorted(doc) == ["current", "format", "master_keys", "pseudonym_secret", "signing_seed"]


def test_rotation_keeps_the_file_private_and_leaves_no_temporary_files(key_file: Path) -> None:
    provider = LocalKeyProvider(key_file)
    provider.rotate()
    provider.retire(1)
    assert mode(key_file) == 0o600
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["master.json", "master.json.lock"]


@pytest.mark.parametrize("lax_mode", [0o644, 0o640, 0o604, 0o660])
def test_it_refuses_a_key_file_readable_by_group_or_others(key_file: Path, lax_mode: int) -> None:
    LocalKeyProvider(key_file).check()
    key_file.chmod(lax_mode)
    provider = LocalKeyProvider(key_file)
    with pytest.raises(KeyProviderUnavailable, match="chmod 600"):
        provider.check()
    with pytest.raises(KeyProviderUnavailable):
        provider.wrap(DATA_KEY, context=CONTEXT)


def test_it_stops_using_keys_whose_file_became_readable_by_others(key_file: Path) -> None:
    provider = LocalKeyProvider(key_file)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    key_file.chmod(0o644)
    with pytest.raises(KeyProviderUnavailable):
        provider.unwrap(wrapped, context=CONTEXT)


def test_without_create_it_is_unavailable_and_creates_nothing(key_file: Path) -> None:
    provider = LocalKeyProvider(key_file, create_if_missing=False)
    with pytest.raises(KeyProviderUnavailable, match="does not exist"):
        provider.check()
    assert not key_file.parent.exists()


def test_without_create_it_uses_an_existing_file(key_file: Path) -> None:
    wrapped = LocalKeyProvider(key_file).wrap(DATA_KEY, context=CONTEXT)
    assert LocalKeyProvider(key_file, create_if_missing=False).unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_it_is_unavailable_when_the_path_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "not-a-directory").write_text("")
    with pytest.raises(KeyProviderUnavailable, match="cannot read"):
        LocalKeyProvider(tmp_path / "not-a-directory" / "master.json").check()


def test_it_refuses_a_directory_in_place_of_the_key_file(key_file: Path) -> None:
    key_file.mkdir(mode=0o700, parents=True)
    with pytest.raises(KeyProviderUnavailable, match="cannot read"):
        LocalKeyProvider(key_file).check()


def test_it_refuses_a_device_in_place_of_the_key_file(key_file: Path) -> None:
    key_file.parent.mkdir(mode=0o700)
    key_file.symlink_to("/dev/null")
    with pytest.raises(KeyProviderUnavailable, match="not a regular file"):
        LocalKeyProvider(key_file).check()


def _b64(size: int) -> str:
    return base64.b64encode(bytes(size)).decode()


VALID = {
    "format": 1,
    "current": 1,
    "master_keys": {"1": _b64(32)},
    "signing_seed": _b64(32),
    "pseudonym_secret": _b64(32),
}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(json.dumps({**VALID, "format": 2}).encode(), id="unknown-format"),
        pytest.param(json.dumps({**VALID, "current": 2}).encode(), id="current-without-key"),
        pytest.param(json.dumps({**VALID, "current": "1"}).encode(), id="current-not-an-int"),
        pytest.param(json.dumps({**VALID, "master_keys": {"1": _b64(16)}}).encode(), id="short-master-key"),
        pytest.param(json.dumps({**VALID, "master_keys": {"one": _b64(32)}}).encode(), id="version-not-a-number"),
        pytest.param(json.dumps({**VALID, "signing_seed": "!!not base64!!"}).encode(), id="bad-base64"),
        pytest.param(json.dumps({k: v for k, v in VALID.items() if k != "pseudonym_secret"}).encode(), id="missing"),
    ],
)
def test_it_refuses_a_malformed_key_file_without_echoing_it(key_file: Path, content: bytes) -> None:
    key_file.parent.mkdir(mode=0o700)
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    with pytest.raises(KeyProviderUnavailable, match="malformed") as caught:
        LocalKeyProvider(key_file).check()
    assert _b64(32) not in str(caught.value)


def test_it_loads_a_valid_file_written_by_hand(key_file: Path) -> None:
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(json.dumps(VALID))
    key_file.chmod(0o600)
    provider = LocalKeyProvider(key_file)
    assert provider.versions() == [1]
    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_a_failed_update_keeps_the_old_keys_and_no_temporary_file(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = LocalKeyProvider(key_file)
    provider.check()
    before = key_file.read_bytes()

    def failing_replace(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyProviderUnavailable, match="cannot update"):
        provider.rotate()
    monkeypatch.undo()
    assert key_file.read_bytes() == before
    assert provider.versions() == [1]
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["master.json", "master.json.lock"]


def test_concurrent_rotations_from_many_instances_lose_no_version(key_file: Path) -> None:
    LocalKeyProvider(key_file).check()
    providers = [LocalKeyProvider(key_file) for _ in range(8)]
    for provider in providers:
        provider.check()  # every instance caches the one-version file first
    threads = [threading.Thread(target=provider.rotate) for provider in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert LocalKeyProvider(key_file).versions() == list(range(1, 10))


def test_concurrent_first_use_creates_one_key_file(key_file: Path) -> None:
    providers = [LocalKeyProvider(key_file) for _ in range(8)]
    threads = [threading.Thread(target=provider.check) for provider in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    public_keys = {provider.signing_public_key() for provider in providers}
    assert len(public_keys) == 1
