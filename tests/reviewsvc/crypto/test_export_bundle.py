"""Export bundles: only the recipient's private key opens them, and nothing altered gets through."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import uuid
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from reviewsvc.crypto import streaming
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.crypto.export import (
    MANIFEST,
    MANIFEST_SIGNATURE,
    PREAMBLE_SIZE,
    BundleWriter,
    check_manifest_signature,
    check_recipient_public_key,
    extract_bundle,
    load_private_key,
    load_signing_key,
    manifest_signature,
    open_bundle,
)

# A point of order 8 on Curve25519 (RFC 7748 section 6.1 lists the low-order points): every
# shared secret with it is all-zero.
SERVICE_KEY = Ed25519PrivateKey.generate()
SERVICE_PUBLIC = SERVICE_KEY.public_key().public_bytes_raw()


def signed(archive: zipfile.ZipFile, manifest: bytes, *, key: Ed25519PrivateKey = SERVICE_KEY) -> None:
    """Write the manifest and its signature, as the service does."""
    archive.writestr(MANIFEST, manifest)
    archive.writestr(
        MANIFEST_SIGNATURE,
        manifest_signature(manifest, sign=key.sign, public_key=key.public_key().public_bytes_raw()),
    )


LOW_ORDER_POINT = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def keypair() -> tuple[bytes, bytes]:
    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def bundle_of(plaintext: bytes, *, public: bytes, export_id: uuid.UUID, segment_size: int = 1024) -> bytes:
    sink = io.BytesIO()
    writer = BundleWriter(sink, recipient_public_key=public, export_id=export_id, segment_size=segment_size)
    # Uneven writes: segment boundaries must not depend on how the caller cuts its data.
    for start in range(0, len(plaintext), 777):
        writer.write(plaintext[start : start + 777])
    writer.finish()
    return sink.getvalue()


def opened(bundle: bytes, private: bytes) -> tuple[uuid.UUID, bytes]:
    export_id, chunks = open_bundle(io.BytesIO(bundle), private_key=private)
    return export_id, b"".join(chunks)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 10_000])
def test_the_recipient_opens_what_was_written(size):
    private, public = keypair()
    export_id = uuid.uuid4()
    plaintext = os.urandom(size)
    bundle = bundle_of(plaintext, public=public, export_id=export_id)
    assert opened(bundle, private) == (export_id, plaintext)
    # The body is exactly the streaming format's blob for that plaintext.
    assert len(bundle) == PREAMBLE_SIZE + streaming.ciphertext_size(size, 1024)


def test_it_refuses_another_private_key():
    _, public = keypair()
    other_private, _ = keypair()
    bundle = bundle_of(b"recordings of one person", public=public, export_id=uuid.uuid4())
    with pytest.raises(DecryptionError):
        opened(bundle, other_private)


def test_it_refuses_a_bundle_whose_export_id_was_changed():
    private, public = keypair()
    bundle = bytearray(bundle_of(b"x" * 3000, public=public, export_id=uuid.uuid4()))
    bundle[PREAMBLE_SIZE - 1] ^= 0x01
    with pytest.raises(DecryptionError):
        opened(bytes(bundle), private)


@pytest.mark.parametrize("position", [PREAMBLE_SIZE + 5, PREAMBLE_SIZE + 20, -1])
def test_it_refuses_a_flipped_bit(position):
    private, public = keypair()
    bundle = bytearray(bundle_of(os.urandom(3000), public=public, export_id=uuid.uuid4()))
    bundle[position] ^= 0x80
    with pytest.raises(DecryptionError):
        opened(bytes(bundle), private)


def test_it_refuses_a_bundle_cut_at_a_segment_boundary():
    private, public = keypair()
    bundle = bundle_of(os.urandom(3000), public=public, export_id=uuid.uuid4())
    # Header, then two whole segments of 1024 + 16 bytes: a valid-looking prefix.
    cut = PREAMBLE_SIZE + streaming.HEADER_SIZE + 2 * (1024 + streaming.TAG_SIZE)
    with pytest.raises(DecryptionError):
        opened(bundle[:cut], private)


def test_an_unfinished_writer_leaves_a_bundle_no_reader_accepts():
    private, public = keypair()
    sink = io.BytesIO()
    writer = BundleWriter(sink, recipient_public_key=public, export_id=uuid.uuid4(), segment_size=1024)
    writer.write(os.urandom(5000))
    writer.close()  # a build that failed half-way: finish() never ran
    with pytest.raises(DecryptionError):
        opened(sink.getvalue(), private)


def test_it_buffers_at_most_one_segment_of_plaintext():
    _, public = keypair()
    sink = io.BytesIO()
    writer = BundleWriter(sink, recipient_public_key=public, export_id=uuid.uuid4(), segment_size=1024)
    writer.write(os.urandom(10 * 1024 + 1))
    # Ten segments are sealed and gone to the sink; one byte waits for the last one.
    assert len(sink.getvalue()) == PREAMBLE_SIZE + streaming.HEADER_SIZE + 10 * (1024 + streaming.TAG_SIZE)


def test_it_never_writes_plaintext_to_the_sink():
    _, public = keypair()
    marker = b"the subject said something private " * 100
    bundle = bundle_of(marker, public=public, export_id=uuid.uuid4())
    assert b"something private" not in bundle


def test_two_bundles_of_the_same_data_differ_entirely():
    _, public = keypair()
    export_id = uuid.uuid4()
    first = bundle_of(b"same" * 1000, public=public, export_id=export_id)
    second = bundle_of(b"same" * 1000, public=public, export_id=export_id)
    assert first[PREAMBLE_SIZE:] != second[PREAMBLE_SIZE:]
    assert first[8:40] != second[8:40]  # a fresh ephemeral key each time


@pytest.mark.parametrize(
    "raw", [b"", b"\x00" * 31, b"\x00" * 33, bytes(32), LOW_ORDER_POINT], ids=["empty", "31", "33", "zero", "order8"]
)
def test_it_refuses_unusable_recipient_keys(raw):
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the caller answers 400
        check_recipient_public_key(raw)
    with pytest.raises(ValueError):  # noqa: PT011
        BundleWriter(io.BytesIO(), recipient_public_key=raw, export_id=uuid.uuid4())


def test_a_zip_streams_through_the_writer_and_extracts_verified(tmp_path):
    private, public = keypair()
    export_id = uuid.uuid4()
    audio = os.urandom(200_000)
    sink = io.BytesIO()
    writer = BundleWriter(sink, recipient_public_key=public, export_id=export_id)
    with zipfile.ZipFile(writer, "w") as archive:
        with archive.open("audio/one.wav", "w") as entry:
            entry.write(audio)
        manifest = {
            "export_id": str(export_id),
            "files": {"audio/one.wav": {"sha256": hashlib.sha256(audio).hexdigest(), "bytes": len(audio)}},
        }
        signed(archive, json.dumps(manifest).encode())
    writer.finish()
    sink.seek(0)
    assert extract_bundle(sink, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path / "out") == manifest
    assert (tmp_path / "out" / "audio" / "one.wav").read_bytes() == audio
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["audio", "manifest.json"]


def zip_bundle(
    entries: dict[str, bytes],
    manifest: dict,
    *,
    public: bytes,
    export_id: uuid.UUID,
    key: Ed25519PrivateKey | None = SERVICE_KEY,
) -> io.BytesIO:
    sink = io.BytesIO()
    writer = BundleWriter(sink, recipient_public_key=public, export_id=export_id)
    with zipfile.ZipFile(writer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if key is None:
            archive.writestr(MANIFEST, json.dumps(manifest))
        else:
            signed(archive, json.dumps(manifest).encode(), key=key)
    writer.finish()
    sink.seek(0)
    return sink


def test_extraction_refuses_a_file_that_does_not_match_the_manifest(tmp_path):
    private, public = keypair()
    export_id = uuid.uuid4()
    manifest = {"export_id": str(export_id), "files": {"a.json": {"sha256": "0" * 64, "bytes": 2}}}
    bundle = zip_bundle({"a.json": b"[]"}, manifest, public=public, export_id=export_id)
    with pytest.raises(ValueError, match="SHA-256"):
        extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path)
    assert not (tmp_path / "a.json").exists()


def test_extraction_refuses_a_path_outside_the_output_directory(tmp_path):
    private, public = keypair()
    export_id = uuid.uuid4()
    data = b"x"
    entry = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": 1}
    manifest = {"export_id": str(export_id), "files": {"../escape": entry}}
    bundle = zip_bundle({"../escape": data}, manifest, public=public, export_id=export_id)
    with pytest.raises(ValueError, match="entry name"):
        extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path / "out")
    assert not (tmp_path / "escape").exists()


def test_extraction_refuses_a_manifest_of_another_export(tmp_path):
    private, public = keypair()
    manifest = {"export_id": str(uuid.uuid4()), "files": {}}
    bundle = zip_bundle({}, manifest, public=public, export_id=uuid.uuid4())
    with pytest.raises(ValueError, match="another export"):
        extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path)


def test_private_keys_load_from_pem_base64_and_raw():
    key = X25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert load_private_key(pem) == raw
    assert load_private_key(base64.b64encode(raw) + b"\n") == raw
    assert load_private_key(raw) == raw
    with pytest.raises(ValueError, match="32 bytes"):
        load_private_key(base64.b64encode(b"short"))


def test_the_writer_is_a_write_only_stream_that_finishes_once():
    private, public = keypair()
    sink = io.BytesIO()
    writer = BundleWriter(sink, recipient_public_key=public, export_id=uuid.uuid4(), segment_size=1024)
    assert writer.writable()
    writer.write(b"abc")
    writer.finish()
    writer.finish()
    with pytest.raises(ValueError, match="finished"):
        writer.write(b"more")
    assert opened(sink.getvalue(), private)[1] == b"abc"


@pytest.mark.parametrize("segment_size", [0, streaming.MAX_SEGMENT_SIZE + 1])
def test_it_refuses_an_invalid_segment_size(segment_size):
    _, public = keypair()
    with pytest.raises(ValueError, match="segment size"):
        BundleWriter(io.BytesIO(), recipient_public_key=public, export_id=uuid.uuid4(), segment_size=segment_size)


def test_it_never_wraps_the_segment_counter(monkeypatch):
    _, public = keypair()
    monkeypatch.setattr(streaming, "MAX_SEGMENTS", 2)
    writer = BundleWriter(io.BytesIO(), recipient_public_key=public, export_id=uuid.uuid4(), segment_size=16)
    with pytest.raises(ValueError, match="too many segments"):
        writer.write(b"x" * 49)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b"NOTXPRT" + b[7:], "not a reviewsvc export"),
        (lambda b: b[:7] + b"\x02" + b[8:], "unsupported"),
        (lambda b: b[:8] + LOW_ORDER_POINT + b[40:], "ephemeral key"),
        (lambda b: b[:30], "not a reviewsvc export"),
    ],
    ids=["magic", "version", "low-order-ephemeral", "short"],
)
def test_it_refuses_a_malformed_preamble(change, message):
    private, public = keypair()
    bundle = bundle_of(b"data", public=public, export_id=uuid.uuid4())
    with pytest.raises(DecryptionError, match=message):
        opened(change(bundle), private)


def test_extraction_refuses_an_archive_with_a_file_the_manifest_does_not_list(tmp_path):
    private, public = keypair()
    export_id = uuid.uuid4()
    manifest = {"export_id": str(export_id), "files": {}}
    bundle = zip_bundle({"smuggled.json": b"{}"}, manifest, public=public, export_id=export_id)
    with pytest.raises(ValueError, match="differ from the manifest"):
        extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path)


def test_private_keys_of_another_kind_or_garbage_are_refused():
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="X25519"):
        load_private_key(pem)
    with pytest.raises(ValueError, match="not a PEM"):
        load_private_key(b"not base64 at all!")


def intact_bundle(tmp_path, **signing) -> tuple[io.BytesIO, bytes]:
    private, public = keypair()
    export_id = uuid.uuid4()
    data = b"[]"
    manifest = {
        "export_id": str(export_id),
        "files": {"a.json": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": 2}},
    }
    return zip_bundle({"a.json": data}, manifest, public=public, export_id=export_id, **signing), private


def test_a_bundle_signed_by_the_service_extracts(tmp_path):
    bundle, private = intact_bundle(tmp_path)
    extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "a.json").read_bytes() == b"[]"


def test_a_bundle_anyone_could_make_with_the_recipients_public_key_is_refused(tmp_path):
    """Encryption to the recipient proves nothing about the sender: the signature does."""
    bundle, private = intact_bundle(tmp_path, key=Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match="not signed by the service"):
        extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "a.json").exists()


def test_a_bundle_without_a_signature_is_refused(tmp_path):
    bundle, private = intact_bundle(tmp_path, key=None)
    with pytest.raises(ValueError, match="no manifest signature"):
        extract_bundle(bundle, private_key=private, signing_key=SERVICE_PUBLIC, out_dir=tmp_path / "out")


@pytest.mark.parametrize("entry", [b"not json", b'{"algorithm": "Ed25519"}', b'{"algorithm": "RSA", "signature": ""}'])
def test_a_malformed_signature_entry_is_refused(entry, tmp_path):
    with pytest.raises(ValueError, match="signature is malformed|not signed"):
        check_manifest_signature(b"{}", entry, signing_key=SERVICE_PUBLIC)


def test_signing_keys_load_from_pem_base64_and_raw():
    pem = SERVICE_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_signing_key(pem) == SERVICE_PUBLIC
    assert load_signing_key(base64.b64encode(SERVICE_PUBLIC) + b"\n") == SERVICE_PUBLIC
    assert load_signing_key(SERVICE_PUBLIC) == SERVICE_PUBLIC
    with pytest.raises(ValueError, match="32 bytes"):
        load_signing_key(base64.b64encode(b"short"))
    with pytest.raises(ValueError, match="not a PEM"):
        load_signing_key(b"garbage!")
    x25519 = (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_signing_key(x25519)
