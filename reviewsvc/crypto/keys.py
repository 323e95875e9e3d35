"""Master keys behind one interface: wrapping data keys, signing, pseudonym keys.

``KeyProvider`` is the contract a backend implements (this file's ``LocalKeyProvider``, and
``reviewsvc.crypto.hsm.Pkcs11KeyProvider`` for HSMs); the tests in
tests/reviewsvc/crypto/test_key_provider_contract.py run against each. Master keys never leave the
provider's backend and are never stored in the database or the repository: the database holds
only wrapped data keys. docs/KEYS.md describes the key hierarchy.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reviewsvc.crypto.errors import (
    KeyProviderError,
    KeyProviderUnavailable,
    KeyUnwrapError,
)

DATA_KEY_SIZE = 32
WRAP_NONCE_SIZE = 12
# version (u32) | nonce | AES-GCM(data key) | tag
WRAPPED_KEY_SIZE = 4 + WRAP_NONCE_SIZE + DATA_KEY_SIZE + 16
FILE_FORMAT = 1
_SECRET_SIZE = 32
# Every purpose ``KeyProvider.mac`` serves. A fixed list because moving to another provider must
# carry each purpose's key over (or pseudonyms change), so no purpose may exist that the
# migration does not know: ``mac`` refuses any other.
MAC_PURPOSES = (
    "subject",  # subject pseudonyms in the access log
    "reviewer-for-subject",  # reviewer pseudonyms in a subject's export
    "event-mac",  # per-event MACs of the access log
    "webauthn-decoy",  # decoy credential ids, so key options do not tell which names exist
)


@runtime_checkable
class KeyProvider(Protocol):
    """Versioned master keys for envelope encryption, plus signing and pseudonym keys.

    Wrapping
        ``wrap`` encrypts a 32-byte data key with AES-256-GCM (or the backend's equivalent)
        under the *current* master key version, authenticating ``context`` as associated data.
        The result is self-describing: it starts with the master key version as a big-endian
        u32 (read it with ``wrapped_key_version``), followed by backend-specific bytes.
        ``unwrap`` reverses it and must raise ``KeyUnwrapError`` when the context differs, the
        version is unknown or retired, or any byte was changed. Callers pass
        ``envelope.associated_data(...)`` as the context, so a wrapped key copied to another
        row does not unwrap.

    Rotation and retirement
        ``rotate`` adds a new version and makes it current: new wraps use it, old wraps still
        unwrap. Data keys are then re-wrapped (``envelope.rewrap``) without touching the audio.
        ``retire`` destroys a non-current version once nothing refers to it; everything still
        wrapped under it becomes unrecoverable (crypto-shredding). Retiring the current version
        raises ``KeyProviderError``.

    Signing
        ``sign`` makes Ed25519 signatures (audit checkpoints) with a key that is not affected by
        rotation; ``signing_public_key`` returns its raw 32 bytes for auditors, who check with
        ``verify_signature`` or any Ed25519 implementation.

    MACs (pseudonyms, event MACs)
        ``mac(purpose, message)`` returns HMAC-SHA256 of ``message`` under a stable key per
        purpose, which is not a master key version, so pseudonyms and event MACs survive
        rotation. ``purpose`` must be one of ``MAC_PURPOSES`` (``ValueError`` otherwise). The key
        itself never leaves the provider (a hardware provider computes the MAC inside the token).
        ``mac_function(purpose)`` returns ``mac`` bound to one purpose, for callers that compute
        one per event (the log's verifier); a provider holding the key in process binds the key
        once, so a call costs only the hashing.

    Health
        ``check`` raises ``KeyProviderUnavailable`` if the backend cannot be reached or its keys
        cannot be loaded safely; /readyz calls it. Every other method raises it in that case too.

    Implementations are safe to share between threads.
    """

    def current_version(self) -> int: ...

    def versions(self) -> list[int]: ...

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes: ...

    def rotate(self) -> int: ...

    def retire(self, version: int) -> None: ...

    def sign(self, message: bytes) -> bytes: ...

    def signing_public_key(self) -> bytes: ...

    def mac(self, purpose: str, message: bytes) -> bytes: ...

    def mac_function(self, purpose: str) -> Callable[[bytes], bytes]: ...

    def check(self) -> None: ...


def wrapped_key_version(wrapped: bytes) -> int:
    """Return the master key version a wrapped key was made under."""
    if len(wrapped) < 4:
        raise KeyUnwrapError("wrapped key is malformed")
    return int.from_bytes(wrapped[:4], "big")


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` is a valid Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        # A malformed key or signature is treated like a forged one: fail closed.
        return False
    return True


_HMAC_BLOCK = 64
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def hmac_sha256_function(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 (RFC 2104) under ``key``, with the keyed inner and outer states computed once.

    Written out because of speed: the verifier MACs every event of the log, and this costs
    0.8 µs a call where ``hmac.digest`` costs 1.9 µs (it keys both states again on every call)
    and a copy of a keyed ``hmac.HMAC`` 1.3 µs (one Python object more per call).
    tests/reviewsvc/crypto/test_hmac_function.py checks it against RFC 4231 and ``hmac.digest``.
    """
    if len(key) > _HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_HMAC_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_INNER_PAD))
    outer = hashlib.sha256(key.translate(_OUTER_PAD))

    def hmac_sha256(message: bytes) -> bytes:
        state = inner.copy()
        state.update(message)
        result = outer.copy()
        result.update(state.digest())
        return result.digest()

    return hmac_sha256


def check_mac_purpose(purpose: str) -> None:
    """Raise ``ValueError`` unless ``purpose`` is one of ``MAC_PURPOSES``."""
    if not purpose:
        raise ValueError("a MAC key needs a purpose")
    if purpose not in MAC_PURPOSES:
        raise ValueError(f"unknown MAC purpose {purpose!r}: add it to MAC_PURPOSES")


def _derive_pseudonym_key(secret: bytes, purpose: str) -> bytes:
    """HKDF-SHA256 of the long-term pseudonym secret, one independent key per purpose."""
    check_mac_purpose(purpose)
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"reviewsvc pseudonym " + purpose.encode(),
    )
    return hkdf.derive(secret)


@dataclass(frozen=True)
class _KeyRing:
    """An immutable snapshot of the key file; replaced as a whole on every change."""

    current: int
    master_keys: Mapping[int, bytes]
    signing_seed: bytes
    pseudonym_secret: bytes
    _aeads: dict[int, AESGCM] = field(init=False, repr=False, compare=False)
    _signer: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _mac_keys: dict[str, bytes] = field(init=False, repr=False, compare=False)
    _mac_functions: dict[str, Callable[[bytes], bytes]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mac_keys", {})
        object.__setattr__(self, "_mac_functions", {})
        aeads = {version: AESGCM(key) for version, key in self.master_keys.items()}
        object.__setattr__(self, "_aeads", aeads)
        signer = Ed25519PrivateKey.from_private_bytes(self.signing_seed)
        object.__setattr__(self, "_signer", signer)

    @classmethod
    def generate(cls) -> _KeyRing:
        return cls(
            current=1,
            master_keys={1: AESGCM.generate_key(256)},
            signing_seed=secrets.token_bytes(_SECRET_SIZE),
            pseudonym_secret=secrets.token_bytes(_SECRET_SIZE),
        )

    @classmethod
    def from_json(cls, raw: bytes) -> _KeyRing:
        try:
            doc = json.loads(raw)
            if doc["format"] != FILE_FORMAT:
                raise ValueError("unknown key file format")
            master_keys = {int(v): _b64_secret(k) for v, k in doc["master_keys"].items()}
            current = doc["current"]
            if type(current) is not int or current not in master_keys:
                raise ValueError("current version has no key")
            return cls(
                current=current,
                master_keys=master_keys,
                signing_seed=_b64_secret(doc["signing_seed"]),
                pseudonym_secret=_b64_secret(doc["pseudonym_secret"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # No detail from the file itself: it holds secrets.
            raise KeyProviderUnavailable("key file is malformed") from exc

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": FILE_FORMAT,
            "current": self.current,
            "master_keys": {str(v): _b64(k) for v, k in sorted(self.master_keys.items())},
            "signing_seed": _b64(self.signing_seed),
            "pseudonym_secret": _b64(self.pseudonym_secret),
        }
        return json.dumps(doc, indent=2).encode()

    def rotated(self) -> _KeyRing:
        # The current version is always the highest (it cannot be retired), so a retired
        # version number is never handed out again.
        version = max(self.master_keys) + 1
        keys = {**self.master_keys, version: AESGCM.generate_key(256)}
        return _KeyRing(version, keys, self.signing_seed, self.pseudonym_secret)

    def without(self, version: int) -> _KeyRing:
        if version == self.current:
            raise KeyProviderError("refusing to retire the current master key version")
        if version not in self.master_keys:
            raise KeyProviderError(f"no master key version {version}")
        keys = {v: k for v, k in self.master_keys.items() if v != version}
        return _KeyRing(self.current, keys, self.signing_seed, self.pseudonym_secret)

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueError("data key must be 32 bytes")
        # Random 96-bit nonces are safe far beyond the number of data keys one version wraps.
        nonce = os.urandom(WRAP_NONCE_SIZE)
        sealed = self._aeads[self.current].encrypt(nonce, data_key, context)
        return self.current.to_bytes(4, "big") + nonce + sealed

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        if len(wrapped) != WRAPPED_KEY_SIZE:
            raise KeyUnwrapError("wrapped key is malformed")
        version = wrapped_key_version(wrapped)
        aead = self._aeads.get(version)
        if aead is None:
            raise KeyUnwrapError(f"master key version {version} is unknown or retired")
        nonce, sealed = wrapped[4 : 4 + WRAP_NONCE_SIZE], wrapped[4 + WRAP_NONCE_SIZE :]
        try:
            return aead.decrypt(nonce, sealed, context)
        except InvalidTag:
            raise KeyUnwrapError("wrapped key failed authentication") from None

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)

    def mac_key(self, purpose: str) -> bytes:
        # Derived once per purpose: event MACs and pseudonyms are computed per event.
        key = self._mac_keys.get(purpose)
        if key is None:
            key = self._mac_keys[purpose] = _derive_pseudonym_key(self.pseudonym_secret, purpose)
        return key

    def mac_function(self, purpose: str) -> Callable[[bytes], bytes]:
        # Keyed once per purpose too: every request MACs its event and pseudonymises its subject.
        function = self._mac_functions.get(purpose)
        if function is None:
            function = self._mac_functions[purpose] = hmac_sha256_function(self.mac_key(purpose))
        return function

    def signing_public_key(self) -> bytes:
        return self._signer.public_key().public_bytes_raw()


class LocalKeyProvider:
    """Keys in a JSON file outside the repository and the database, readable by its owner only.

    File: ``{"format": 1, "current": N, "master_keys": {"1": "<b64>", ...},
    "signing_seed": "<b64>", "pseudonym_secret": "<b64>"}``.

    - Created on first use, mode 0600 in a 0700 directory, unless ``create_if_missing`` is
      false: production should pass false, so an unmounted key volume makes the service
      unready instead of silently starting with fresh keys that nothing else has.
    - A file with any group or other permission bit is refused: keys must not be readable by
      other accounts.
    - Changes are written to a new 0600 file that atomically replaces the old one, under an
      exclusive ``flock`` on ``<file>.lock``, so two processes rotating at once keep both
      versions and readers never see a half-written file.
    - The loaded keys are cached and reloaded when the file changes (another process rotated).

    Retiring a version removes it from the file; copies in backups or freed disk blocks are out
    of this class's reach, which is why production should prefer a KMS/Vault backend.
    """

    def __init__(self, path: Path, *, create_if_missing: bool = True) -> None:
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._create_if_missing = create_if_missing
        self._mutex = threading.RLock()
        self._ring: _KeyRing | None = None
        self._stamp: tuple[int, ...] | None = None

    def current_version(self) -> int:
        return self._keys().current

    def versions(self) -> list[int]:
        return sorted(self._keys().master_keys)

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        return self._keys().wrap(data_key, context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        return self._keys().unwrap(wrapped, context)

    def rotate(self) -> int:
        return self._update(lambda ring: ring.rotated()).current

    def retire(self, version: int) -> None:
        self._update(lambda ring: ring.without(version))

    def sign(self, message: bytes) -> bytes:
        return self._keys().sign(message)

    def signing_public_key(self) -> bytes:
        return self._keys().signing_public_key()

    def mac(self, purpose: str, message: bytes) -> bytes:
        return self._keys().mac_function(purpose)(message)

    def mac_function(self, purpose: str) -> Callable[[bytes], bytes]:
        # MAC keys are derived from the pseudonym secret, which rotation never changes: binding
        # the key once is safe for as long as the function is used.
        return self._keys().mac_function(purpose)

    def check(self) -> None:
        self._keys()

    def migration_keys(self) -> tuple[bytes, dict[str, bytes]]:
        """The signing seed and every purpose's MAC key, for importing into another provider.

        The only way key material leaves this provider: ``migrate_master_keys`` moves these
        into a token so signatures and pseudonyms stay valid. Master keys are not exported:
        the migration re-wraps data keys under keys made inside the token.
        """
        ring = self._keys()
        return ring.signing_seed, {purpose: ring.mac_key(purpose) for purpose in MAC_PURPOSES}

    def _keys(self) -> _KeyRing:
        """The key ring, reloaded if the file changed since it was last read."""
        with self._mutex:
            try:
                return self._load()
            except OSError as exc:
                raise KeyProviderUnavailable(f"cannot read key file {self._path}: {exc.strerror}") from exc

    def _load(self) -> _KeyRing:
        try:
            info = os.stat(self._path)
        except FileNotFoundError:
            if not self._create_if_missing:
                raise KeyProviderUnavailable(f"key file {self._path} does not exist") from None
            self._create()
            info = os.stat(self._path)
        if self._ring is None or _stamp(info) != self._stamp:
            self._ring, self._stamp = self._read()
        return self._ring

    def _read(self) -> tuple[_KeyRing, tuple[int, ...]]:
        with open(self._path, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise KeyProviderUnavailable(f"key file {self._path} is not a regular file")
            if info.st_mode & 0o077:
                raise KeyProviderUnavailable(
                    f"key file {self._path} is accessible to group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"
                )
            return _KeyRing.from_json(file.read()), _stamp(info)

    def _create(self) -> None:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._file_lock():
            # Another process may have created it while we waited for the lock.
            if not self._path.exists():
                self._write(_KeyRing.generate())

    def _update(self, change: Callable[[_KeyRing], _KeyRing]) -> _KeyRing:
        with self._mutex:
            self._keys()  # creates the file on first use and checks its permissions
            try:
                with self._file_lock():
                    # Re-read under the lock: the cache may predate another process's rotation.
                    ring, _ = self._read()
                    self._write(change(ring))
            except OSError as exc:
                raise KeyProviderUnavailable(f"cannot update key file {self._path}: {exc.strerror}") from exc
            self._ring = None
            return self._keys()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _write(self, ring: _KeyRing) -> None:
        temp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(8)}.tmp")
        # O_EXCL: never write keys into a file someone else prepared; 0600 from the first byte.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(ring.to_json())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self._path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _stamp(info: os.stat_result) -> tuple[int, ...]:
    # os.replace gives the file a new inode; size, mtime and mode catch the rest, including a
    # chmod that makes the file readable by others after it was loaded.
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _b64_secret(value: str) -> bytes:
    raw = base64.b64decode(value, validate=True)  # binascii.Error is a ValueError
    if len(raw) != _SECRET_SIZE:
        raise ValueError("secret has the wrong length")
    return raw


class MigratingKeyProvider:
    """Two providers seen as one while data keys move from ``source`` to ``target``.

    Unwraps a key under whichever provider holds its version and does everything else,
    wrapping included, with ``target``; the re-wrap loop then moves every key across. The
    target's versions must all be above the source's (``migrate_master_keys`` starts the
    token at the file's highest version + 1), so a version number names one provider only.
    """

    def __init__(self, *, source: KeyProvider, target: KeyProvider) -> None:
        self._source, self._target = source, target
        self._source_versions = frozenset(source.versions())
        if self._source_versions & set(target.versions()):
            raise KeyProviderError("source and target providers share master key version numbers")

    def current_version(self) -> int:
        return self._target.current_version()

    def versions(self) -> list[int]:
        return self._target.versions()

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        return self._target.wrap(data_key, context=context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        holder = self._source if wrapped_key_version(wrapped) in self._source_versions else self._target
        return holder.unwrap(wrapped, context=context)

    def rotate(self) -> int:
        return self._target.rotate()

    def retire(self, version: int) -> None:
        self._target.retire(version)

    def sign(self, message: bytes) -> bytes:
        return self._target.sign(message)

    def signing_public_key(self) -> bytes:
        return self._target.signing_public_key()

    def mac(self, purpose: str, message: bytes) -> bytes:
        return self._target.mac(purpose, message)

    def mac_function(self, purpose: str) -> Callable[[bytes], bytes]:
        return self._target.mac_function(purpose)

    def check(self) -> None:
        self._source.check()
        self._target.check()
