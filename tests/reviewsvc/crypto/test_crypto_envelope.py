"""reviewsvc.crypto.envelope: per-object data keys bound to their row, rotation, crypto-shredding."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reviewsvc.crypto import envelope
from reviewsvc.crypto.errors import DecryptionError, KeyUnwrapError
from reviewsvc.crypto.keys import LocalKeyProvider, wrapped_key_version

AUDIO = bytes(range(256)) * 1000  # 256 000 bytes: several 64 KiB segments
CLIP_A = {"kind": "clip", "object_id": "clip-a", "subject_id": "subject-1"}
CLIP_B = {"kind": "clip", "object_id": "clip-b", "subject_id": "subject-1"}


@pytest.fixture
def provider(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path / "keys" / "master.json")


def read_range(
    sealed: envelope.Sealed, provider: LocalKeyProvider, row: dict[str, str], start: int = 0, stop: int | None = None
) -> bytes:
    source = io.BytesIO(sealed.blob)
    return b"".join(
        envelope.open_range(source, provider=provider, wrapped_key=sealed.wrapped_key, start=start, stop=stop, **row)
    )


def test_associated_data_is_unambiguous_and_names_the_format_version() -> None:
    a = envelope.associated_data(kind="clip", object_id="a", subject_id="bc")
    b = envelope.associated_data(kind="clip", object_id="ab", subject_id="c")
    assert a != b
    # Every field is a u32 length then its bytes; the format version is a u32 field of its own.
    assert a == (
        b"\x00\x00\x00\x09reviewsvc"
        b"\x00\x00\x00\x04\x00\x00\x00\x01"
        b"\x00\x00\x00\x04clip"
        b"\x00\x00\x00\x01a"
        b"\x00\x00\x00\x02bc"
    )
    assert a == envelope.associated_data(kind="clip", object_id="a", subject_id="bc")
    assert a != envelope.associated_data(kind="transcript", object_id="a", subject_id="bc")


@pytest.mark.parametrize("empty", ["kind", "object_id", "subject_id"])
def test_associated_data_refuses_an_empty_field(empty: str) -> None:
    with pytest.raises(ValueError, match=empty):
        envelope.associated_data(**{**CLIP_A, empty: ""})


def test_data_keys_are_fresh_256_bit_keys() -> None:
    assert len(envelope.new_data_key()) == 32
    assert envelope.new_data_key() != envelope.new_data_key()


def test_a_sealed_clip_opens_whole_and_by_range(provider: LocalKeyProvider) -> None:
    sealed = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    assert AUDIO[:1000] not in sealed.blob
    assert sealed.key_version == provider.current_version() == wrapped_key_version(sealed.wrapped_key)
    assert envelope.open(sealed.blob, provider=provider, wrapped_key=sealed.wrapped_key, **CLIP_A) == AUDIO
    assert read_range(sealed, provider, CLIP_A, 70_000, 140_000) == AUDIO[70_000:140_000]


@pytest.mark.parametrize(
    "other_row",
    [
        pytest.param(CLIP_B, id="other-clip"),
        pytest.param({**CLIP_A, "subject_id": "subject-2"}, id="other-subject"),
        pytest.param({**CLIP_A, "kind": "transcript"}, id="other-kind"),
    ],
)
def test_a_blob_and_wrapped_key_copied_to_another_row_do_not_open(
    provider: LocalKeyProvider, other_row: dict[str, str]
) -> None:
    sealed = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    with pytest.raises(KeyUnwrapError):
        envelope.open(sealed.blob, provider=provider, wrapped_key=sealed.wrapped_key, **other_row)
    with pytest.raises(KeyUnwrapError):
        read_range(sealed, provider, other_row)


def test_a_blob_copied_under_another_rows_wrapped_key_releases_nothing(provider: LocalKeyProvider) -> None:
    sealed_a = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    sealed_b = envelope.seal(b"other audio", provider=provider, **CLIP_B)
    chunks = envelope.open_range(
        io.BytesIO(sealed_a.blob), provider=provider, wrapped_key=sealed_b.wrapped_key, **CLIP_B
    )
    with pytest.raises(DecryptionError):
        next(chunks)  # the very first segment fails: nothing was released


def test_rotation_rewraps_keys_without_touching_the_blob(provider: LocalKeyProvider) -> None:
    sealed = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    old_version = sealed.key_version
    provider.rotate()
    rewrapped = envelope.rewrap(sealed.wrapped_key, provider=provider, **CLIP_A)
    assert wrapped_key_version(rewrapped) == provider.current_version() != old_version
    provider.retire(old_version)
    assert envelope.open(sealed.blob, provider=provider, wrapped_key=rewrapped, **CLIP_A) == AUDIO
    with pytest.raises(KeyUnwrapError):
        envelope.open(sealed.blob, provider=provider, wrapped_key=sealed.wrapped_key, **CLIP_A)


def test_rewrap_refuses_a_wrapped_key_of_another_row(provider: LocalKeyProvider) -> None:
    sealed = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    with pytest.raises(KeyUnwrapError):
        envelope.rewrap(sealed.wrapped_key, provider=provider, **CLIP_B)


def test_a_blob_whose_wrapped_key_was_deleted_cannot_be_opened_again(provider: LocalKeyProvider) -> None:
    sealed = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    # The row's wrapped key is gone (crypto-shredding); the blob may survive in a backup. Every
    # key the provider can still produce for this row is a new random key: none opens the blob.
    replacement = envelope.seal(AUDIO, provider=provider, **CLIP_A).wrapped_key
    with pytest.raises(DecryptionError):
        envelope.open(sealed.blob, provider=provider, wrapped_key=replacement, **CLIP_A)


def test_open_range_checks_the_key_before_returning_an_iterator(provider: LocalKeyProvider) -> None:
    sealed = envelope.seal(AUDIO, provider=provider, **CLIP_A)
    with pytest.raises(KeyUnwrapError):
        envelope.open_range(io.BytesIO(sealed.blob), provider=provider, wrapped_key=sealed.wrapped_key[:-1], **CLIP_A)
