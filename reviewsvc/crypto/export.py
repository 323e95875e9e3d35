"""Data-subject export bundles: a byte stream encrypted to the recipient's X25519 public key.

HPKE-style (RFC 9180 base mode in spirit, built from ``cryptography`` primitives), so that the
service never holds a key that opens a finished bundle: only the recipient's private key does.

Format, all integers big-endian::

    preamble = MAGIC "RVSXPRT" | version 0x01 | ephemeral X25519 public key (32) | export id (16)   56 bytes
    body     = a reviewsvc.crypto.streaming blob (header | segments), AES-256-GCM per segment,
               associated data = preamble | recipient public key (32)
    bundle   = preamble | body

    shared   = X25519(ephemeral private, recipient public)        (all-zero results are refused)
    key      = HKDF-SHA256(ikm=shared, salt=none,
                           info="reviewsvc export v1" | ephemeral public | recipient public | export id,
                           length=32)

Every field of ``info`` has a fixed length, so the encoding is unambiguous. The ephemeral private
key lives only while a bundle is written: once ``BundleWriter`` is finished nothing in the
service can derive ``key`` again. Binding the export id and the recipient key into both the key
and every segment's associated data means a bundle cannot be passed off as another export or
re-targeted at another recipient. Segments are the streaming format's (nonce = prefix | index |
last flag), so a truncated, reordered or altered bundle fails before its bytes are released.

The plaintext is written incrementally (``BundleWriter`` is a file object, e.g. under
``zipfile``): only one segment of plaintext is ever buffered.

Signed by the service. The archive's ``manifest.json`` lists every file with its SHA-256 and size;
``manifest.sig`` holds an Ed25519 signature, made by the key provider's ``sign``, over
``SIGNATURE_CONTEXT | manifest bytes``. Encryption alone proves nothing about the sender — anyone
holding the recipient's public key can make a bundle that opens — so a reader reports a bundle
verified only once the signature checks against the service's published key (``export_signing_key``
prints it), obtained out of band, never the key a bundle carries. The context string keeps these
signatures apart from the access log's checkpoint signatures made with the same key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reviewsvc.crypto import streaming
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.crypto.keys import verify_signature

MAGIC = b"RVSXPRT"
VERSION = 1
PUBLIC_KEY_SIZE = 32
EXPORT_ID_SIZE = 16
PREAMBLE_SIZE = len(MAGIC) + 1 + PUBLIC_KEY_SIZE + EXPORT_ID_SIZE
HKDF_LABEL = b"reviewsvc export v1"


def check_recipient_public_key(raw: bytes) -> None:
    """Raise ValueError unless ``raw`` is a usable X25519 public key.

    A low-order point would make every shared secret all-zero (and the key predictable), so a
    trial exchange with a throwaway key refuses it at request time, not at build time.
    """
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError("an X25519 public key is 32 bytes")
    X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))


def derive_key(*, shared_secret: bytes, ephemeral_public: bytes, recipient_public: bytes, export_id: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=streaming.KEY_SIZE,
        salt=None,
        info=HKDF_LABEL + ephemeral_public + recipient_public + export_id,
    )
    return hkdf.derive(shared_secret)


def _preamble(ephemeral_public: bytes, export_id: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + ephemeral_public + export_id


def _export_id_bytes(export_id: uuid.UUID | str) -> bytes:
    return uuid.UUID(str(export_id)).bytes


class BundleWriter(io.RawIOBase):
    """A write-only file object that encrypts what it is given into ``sink``, segment by segment.

    Call ``finish()`` after the last write: it seals the final segment. A writer closed without
    ``finish()`` leaves an unfinished bundle that every reader refuses as truncated, so a build
    that fails half-way can never pass for a complete export. ``tell()`` counts plaintext bytes,
    which is what ``zipfile`` needs to write to a stream it cannot seek.
    """

    def __init__(
        self,
        sink: BinaryIO,
        *,
        recipient_public_key: bytes,
        export_id: uuid.UUID | str,
        segment_size: int = streaming.SEGMENT_SIZE,
    ) -> None:
        super().__init__()
        check_recipient_public_key(recipient_public_key)
        streaming.check_segment_size(segment_size)
        ephemeral = X25519PrivateKey.generate()
        ephemeral_public = ephemeral.public_key().public_bytes_raw()
        export_bytes = _export_id_bytes(export_id)
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public_key))
        key = derive_key(
            shared_secret=shared,
            ephemeral_public=ephemeral_public,
            recipient_public=recipient_public_key,
            export_id=export_bytes,
        )
        preamble = _preamble(ephemeral_public, export_bytes)
        self._nonce_prefix = os.urandom(streaming.NONCE_PREFIX_SIZE)
        header = streaming.blob_header(segment_size=segment_size, nonce_prefix=self._nonce_prefix)
        self._aad = header + preamble + recipient_public_key
        self._aead = AESGCM(key)
        self._sink = sink
        self._segment_size = segment_size
        # One plaintext buffer and one ciphertext buffer, reused for every segment.
        self._plain = bytearray(segment_size)
        self._sealed = bytearray(segment_size + streaming.TAG_SIZE)
        self._filled = 0
        self._index = 0
        self._position = 0
        self._finished = False
        sink.write(preamble)
        sink.write(header)

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    # Narrower than RawIOBase's Buffer, which Python 3.11's typing cannot name.
    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        if self._finished or self.closed:
            raise ValueError("bundle is already finished")
        view = memoryview(data).cast("B")
        size = view.nbytes
        while view.nbytes:
            # A full segment is sealed only once more data arrives, so the final segment is
            # never empty (the streaming format's layout rule) unless the whole stream is.
            if self._filled == self._segment_size:
                self._seal(last=False)
            take = min(self._segment_size - self._filled, view.nbytes)
            self._plain[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
        self._position += size
        return size

    def finish(self) -> None:
        """Seal the final segment. The bundle is complete only after this."""
        if self._finished:
            return
        self._seal(last=True)
        self._finished = True
        # The plaintext buffer held the last segment's content: do not leave it lying around.
        self._plain[:] = bytes(len(self._plain))

    def _seal(self, *, last: bool) -> None:
        if self._index >= streaming.MAX_SEGMENTS:
            raise ValueError("bundle has too many segments")
        nonce = streaming.segment_nonce(self._nonce_prefix, self._index, last=last)
        out = memoryview(self._sealed)[: self._filled + streaming.TAG_SIZE]
        self._aead.encrypt_into(nonce, memoryview(self._plain)[: self._filled], self._aad, out)
        self._sink.write(out)
        self._index += 1
        self._filled = 0


class _Window(io.RawIOBase):
    """The part of a seekable stream after ``offset``, seen as a stream of its own."""

    def __init__(self, source: BinaryIO, offset: int) -> None:
        super().__init__()
        self._source = source
        self._offset = offset

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position += self._offset
        return self._source.seek(position, whence) - self._offset

    def read(self, size: int = -1) -> bytes:
        return self._source.read(size)


def read_preamble(source: BinaryIO) -> tuple[uuid.UUID, bytes]:
    """The export id and ephemeral public key of the bundle in ``source`` (read from its start)."""
    source.seek(0)
    preamble = source.read(PREAMBLE_SIZE)
    if len(preamble) != PREAMBLE_SIZE or preamble[: len(MAGIC)] != MAGIC:
        raise DecryptionError("not a reviewsvc export bundle")
    if preamble[len(MAGIC)] != VERSION:
        raise DecryptionError("unsupported export bundle version")
    ephemeral_public = preamble[len(MAGIC) + 1 : len(MAGIC) + 1 + PUBLIC_KEY_SIZE]
    return uuid.UUID(bytes=preamble[-EXPORT_ID_SIZE:]), ephemeral_public


def open_bundle(source: BinaryIO, *, private_key: bytes) -> tuple[uuid.UUID, Iterator[bytes]]:
    """Return the export id and an iterator over the plaintext of the bundle in seekable ``source``.

    Each segment is authenticated before its bytes are yielded; a bundle for another recipient,
    or one that was altered or cut short, raises DecryptionError.
    """
    export_id, ephemeral_public = read_preamble(source)
    recipient = X25519PrivateKey.from_private_bytes(private_key)
    recipient_public = recipient.public_key().public_bytes_raw()
    try:
        shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError:
        raise DecryptionError("bundle carries an invalid ephemeral key") from None
    key = derive_key(
        shared_secret=shared,
        ephemeral_public=ephemeral_public,
        recipient_public=recipient_public,
        export_id=export_id.bytes,
    )
    preamble = _preamble(ephemeral_public, export_id.bytes)
    body = _Window(source, PREAMBLE_SIZE)
    return export_id, streaming.decrypt_range(body, key=key, associated_data=preamble + recipient_public)


# --- The recipient's side -------------------------------------------------------------------

# What the service ever names an entry: "manifest.json", "clips.json", "audio/<uuid>.<ext>".
_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?")
MANIFEST = "manifest.json"
MANIFEST_SIGNATURE = "manifest.sig"
SIGNATURE_CONTEXT = b"reviewsvc export manifest v1\n"
SIGNATURE_ALGORITHM = "Ed25519"


def manifest_signature(manifest: bytes, *, sign: Callable[[bytes], bytes], public_key: bytes) -> bytes:
    """The ``manifest.sig`` entry for the ``manifest.json`` bytes ``manifest``."""
    signature = sign(SIGNATURE_CONTEXT + manifest)
    body = {
        "algorithm": SIGNATURE_ALGORITHM,
        "public_key": base64.b64encode(public_key).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    return json.dumps(body, sort_keys=True).encode()


def check_manifest_signature(manifest: bytes, signature_entry: bytes, *, signing_key: bytes) -> None:
    """Raise ValueError unless ``signature_entry`` signs ``manifest`` under ``signing_key``."""
    try:
        body = json.loads(signature_entry)
        signature = base64.b64decode(body["signature"], validate=True)
        algorithm = body["algorithm"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValueError("the manifest signature is malformed") from None
    if algorithm != SIGNATURE_ALGORITHM or not verify_signature(signing_key, SIGNATURE_CONTEXT + manifest, signature):
        raise ValueError("the manifest is not signed by the service's key")


def load_signing_key(data: bytes) -> bytes:
    """The service's raw 32-byte Ed25519 public key from a PEM file, base64 text or raw bytes."""
    if data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM file does not hold an Ed25519 public key")
        return key.public_bytes_raw()
    if len(data) == PUBLIC_KEY_SIZE:
        return data
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        raise ValueError("not a PEM, base64 or raw Ed25519 public key") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


def load_private_key(data: bytes) -> bytes:
    """The raw 32-byte X25519 private key from a PEM (PKCS#8) file, base64 text or raw bytes."""
    if data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, X25519PrivateKey):
            raise ValueError("the PEM file does not hold an X25519 private key")
        return key.private_bytes_raw()
    if len(data) == PUBLIC_KEY_SIZE:
        return data
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        raise ValueError("not a PEM, base64 or raw X25519 private key") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError("an X25519 private key is 32 bytes")
    return raw


def extract_bundle(source: BinaryIO, *, private_key: bytes, signing_key: bytes, out_dir: Path) -> dict[str, Any]:
    """Decrypt the bundle in ``source`` into ``out_dir``, check the manifest's signature against
    the service's ``signing_key`` and every file against the manifest.

    Returns the manifest. Raises DecryptionError if the bundle does not open with this key or
    was altered, and ValueError if the manifest is not signed by ``signing_key``, the content does
    not match the manifest or an entry name is not one the service makes (no path leaves
    ``out_dir``). Nothing is extracted before the signature has checked.
    """
    export_id, chunks = open_bundle(source, private_key=private_key)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    archive_path = out_dir / f"export-{export_id}.zip"
    try:
        with open(os.open(archive_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as target:
            for chunk in chunks:
                target.write(chunk)
        with zipfile.ZipFile(archive_path) as archive:
            names = archive.namelist()
            if MANIFEST_SIGNATURE not in names:
                raise ValueError("the bundle carries no manifest signature")
            manifest_bytes = archive.read(MANIFEST)
            check_manifest_signature(manifest_bytes, archive.read(MANIFEST_SIGNATURE), signing_key=signing_key)
            manifest: dict[str, Any] = json.loads(manifest_bytes)
            if manifest.get("export_id") != str(export_id):
                raise ValueError("the manifest names another export")
            files = manifest.get("files", {})
            if sorted(names) != sorted([*files, MANIFEST, MANIFEST_SIGNATURE]):
                raise ValueError("the archive's files differ from the manifest's list")
            for name in names:
                if not _ENTRY_NAME.fullmatch(name) or ".." in name:
                    raise ValueError(f"unexpected entry name {name!r}")
                if name in (MANIFEST, MANIFEST_SIGNATURE):
                    continue
                _extract_checked(archive, name, out_dir / name, files[name])
            (out_dir / MANIFEST).write_bytes(manifest_bytes)
    finally:
        archive_path.unlink(missing_ok=True)
    return manifest


def _extract_checked(archive: zipfile.ZipFile, name: str, target: Path, expected: dict[str, Any]) -> None:
    target.parent.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with archive.open(name) as entry, open(target, "wb") as out:
        while chunk := entry.read(streaming.SEGMENT_SIZE):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected.get("sha256") or size != expected.get("bytes"):
        target.unlink()
        raise ValueError(f"{name} does not match its SHA-256 in the manifest")
