"""Master keys in a PKCS#11 token (an HSM; SoftHSM2 in tests): ``Pkcs11KeyProvider``.

Objects in the token, all token objects with ``CKA_PRIVATE``, ``CKA_SENSITIVE`` true and
``CKA_EXTRACTABLE`` false, so no process, backup or administrator can read them out:

``{prefix}/master/{N}``
    AES-256 secret key, ``CKA_ENCRYPT``/``CKA_DECRYPT`` only: master key version N. Made inside
    the token (``C_GenerateKey``), never imported.
``{prefix}/mac/{purpose}``
    Generic secret, ``CKA_SIGN``/``CKA_VERIFY`` only (``CKM_SHA256_HMAC``): one per MAC purpose.
``{prefix}/signing``
    Ed25519 key pair (``CKK_EC_EDWARDS``, ``CKM_EDDSA``); the private half signs only.
``{prefix}/pending/...``
    An object being created (see ``_create_once``); never used for anything.

The versions live in the token, not in any process: ``current_version`` is the highest
``master/N`` label present, looked up on every wrap, so a rotation by any node is seen by every
process at its next wrap, and a retirement (``C_DestroyObject``) at its next unwrap.

Wrapped key format, identical to the local provider's:
``version (u32, big-endian) | nonce (12) | AES-256-GCM(data key) (32) | tag (16)``, made by
``C_Encrypt``/``C_Decrypt`` with ``CKM_AES_GCM`` inside the token and the caller's context as the
associated data. AES key wrap (RFC 5649) was not chosen: it has no associated data, so a wrapped
key copied to another row would unwrap there.

Concurrency: python-pkcs11 initialises the module with ``C_Initialize(NULL)``, which in PKCS#11
tells the module that no two threads call it at once (SoftHSM2 then runs without its own locks).
So each process has one session per token and every call goes through one lock per module; a
call takes microseconds on SoftHSM2 and ~1 ms on a network HSM, and processes (gunicorn workers,
Celery prefork children) each have their own session. After ``fork`` the child re-initialises
the module before its first call (PKCS#11 forbids using the parent's state). A session lost to a
token restart, a network HSM failover or a re-initialised token is re-opened once per call;
if that fails too the call raises ``KeyProviderUnavailable``.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, TypeVar, cast

import pkcs11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, SignMixin
from pkcs11.util.ec import encode_named_curve_parameters

from reviewsvc.crypto.errors import KeyProviderError, KeyProviderUnavailable, KeyUnwrapError
from reviewsvc.crypto.keys import (
    DATA_KEY_SIZE,
    WRAP_NONCE_SIZE,
    WRAPPED_KEY_SIZE,
    check_mac_purpose,
    wrapped_key_version,
)

T = TypeVar("T")

ED25519_OID = "1.3.101.112"
_ED25519_PARAMS = encode_named_curve_parameters(ED25519_OID)
# What the provider treats as "the session or the token went away": re-open once, then give up.
_LOST = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.DeviceRemoved,
    p11.DeviceError,
    p11.UserNotLoggedIn,
    p11.NoSuchToken,
)
_STALE_HANDLE = (p11.ObjectHandleInvalid, p11.KeyHandleInvalid)
# Attributes every key object carries, whether made in the token or imported by the migration.
_PROTECTED = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: True,  # only so that _create_once can set the final label
}
_NO_OTHER_USE = {
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}
_PRIVATE_KEY_NO_OTHER_USE = {Attribute.DECRYPT: False, Attribute.UNWRAP: False, Attribute.DERIVE: False}
_CREATE_ATTEMPTS = 5
# Makes the object(s) of one key under a label and CKA_ID: ``make(session, label, ident)``.
_Maker = Callable[[pkcs11.Session, str, bytes], list[pkcs11.Object]]


class _LookAgain(Exception):
    """Raised inside an operation that found its keys missing: re-initialise, then look again.

    A module may keep showing an empty token after the token came back (SoftHSM2 does, and so
    may an HSM client after a failover) until it is re-initialised.
    """


class _Missing(Exception):
    """Raised inside an operation that needs a key nobody has made yet: made outside, then again.

    Creation cannot happen inside one operation: it must look for rivals from a fresh view of
    the token (see ``Pkcs11KeyProvider._create_once``), which invalidates the operation's session.
    """

    def __init__(self, label: str, make: _Maker) -> None:
        super().__init__(label)
        self.label = label
        self.make = make


class _Module:
    """One loaded PKCS#11 module per path and process, and the lock every call to it takes."""

    _loaded: dict[str, _Module] = {}
    _loading = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.generation = 0
        self._needs_reinit = False
        try:
            self.lib = pkcs11.lib(path)
        except (p11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyProviderUnavailable(f"cannot load PKCS#11 module {path}") from exc

    @classmethod
    def get(cls, path: str) -> _Module:
        with cls._loading:
            module = cls._loaded.get(path)
            if module is None:
                module = cls._loaded[path] = cls(path)
            return module

    def reinitialize(self) -> None:
        """C_Finalize and C_Initialize: every session and object handle becomes invalid."""
        self.generation += 1
        self._needs_reinit = True  # until it has worked: the next call tries again
        try:
            self.lib.reinitialize()
        except p11.PKCS11Error as exc:
            raise KeyProviderUnavailable(f"cannot re-initialise PKCS#11 module {self.path}") from exc
        self._needs_reinit = False

    def ensure_initialized(self) -> None:
        if self._needs_reinit or not self.lib.initialized:
            self.reinitialize()

    @classmethod
    def _after_fork_in_child(cls) -> None:
        # The parent's lock may be held by a thread that does not exist in the child.
        for module in cls._loaded.values():
            module.lock = threading.RLock()
            module._needs_reinit = True
        cls._loading = threading.Lock()


os.register_at_fork(after_in_child=_Module._after_fork_in_child)


class Pkcs11Token:
    """A logged-in session on one token, shared by every provider of this process using it."""

    # Login state belongs to the process, not the session: one token object per module and label.
    _tokens: dict[tuple[str, str], Pkcs11Token] = {}

    def __init__(self, module: _Module, label: str, pin: str) -> None:
        self._module = module
        self.label = label
        self._pin = pin
        self._session: pkcs11.Session | None = None
        self._generation = -1
        self.retrying = False

    @classmethod
    def get(cls, *, module_path: str, label: str, pin: str) -> Pkcs11Token:
        module = _Module.get(module_path)
        with module.lock:
            token = cls._tokens.get((module_path, label))
            if token is None or token._pin != pin:
                token = cls(module, label, pin)
                cls._tokens[(module_path, label)] = token
            return token

    @property
    def generation(self) -> int:
        """Changes whenever sessions and object handles of this module became invalid."""
        return self._module.generation

    def refresh(self) -> None:
        """Drop this process's view of the token: the next call sees every object any process made.

        A module may keep a per-process index of the token that misses objects other processes
        made at about the time this one made its own: SoftHSM2's file store does (its change
        counter takes in their changes with its own, so it does not re-read the directory).
        Re-initialising the module reads the token afresh. SoftHSM2 may miss the token itself
        when it reads it while other processes write it (their logins do): tried a few times.
        """
        with self._module.lock:
            for attempt in range(_CREATE_ATTEMPTS):
                self._session = None
                self._module.reinitialize()
                try:
                    self._open()
                    return
                except _LOST as exc:
                    if attempt == _CREATE_ATTEMPTS - 1:
                        raise KeyProviderUnavailable(f"PKCS#11 token {self.label!r} is unreachable") from exc
                    time.sleep(random.uniform(0.005, 0.05))  # noqa: S311  (jitter, not a secret)
            raise AssertionError("unreachable")  # pragma: no cover

    def run(self, operation: Callable[[pkcs11.Session], T]) -> T:
        """Run ``operation`` on the session under the module's lock, re-opening a lost session once.

        A token the module does not find is looked for a few times: SoftHSM2 misses it while
        other processes write it (their logins do), as when every worker signs in at once.
        ``retrying`` tells the operation whether this is not its first go.
        """
        with self._module.lock:
            for attempt in range(_CREATE_ATTEMPTS):
                self.retrying = bool(attempt)
                try:
                    return operation(self._open())
                except (p11.PKCS11Error, _LookAgain) as exc:
                    # Lost sessions first of all, but any other failure too: some modules
                    # (SoftHSM2 after its token directory came back) fail with CKR_GENERAL_ERROR
                    # until they are re-initialised.
                    self._session = None
                    missed = isinstance(exc, p11.NoSuchToken)
                    if attempt == _CREATE_ATTEMPTS - 1 or (attempt and not missed):
                        reason = "is unreachable" if isinstance(exc, (*_LOST, _LookAgain)) else "failed"
                        raise KeyProviderUnavailable(
                            f"PKCS#11 token {self.label!r} {reason} ({type(exc).__name__})"
                        ) from exc
                    if attempt:
                        time.sleep(random.uniform(0.005, 0.05))  # noqa: S311  (jitter, not a secret)
                    try:
                        self._module.reinitialize()
                    except KeyProviderUnavailable:
                        raise KeyProviderUnavailable(f"PKCS#11 token {self.label!r} is unreachable") from exc
            raise AssertionError("unreachable")  # pragma: no cover

    def _open(self) -> pkcs11.Session:
        self._module.ensure_initialized()
        if self._session is None or self._generation != self._module.generation:
            try:
                token = self._module.lib.get_token(token_label=self.label)
                try:
                    self._session = token.open(user_pin=self._pin, rw=True)
                except p11.UserAlreadyLoggedIn:
                    # Another session of this process is logged in; a new one shares that login.
                    self._session = token.open(rw=True)
            except (p11.PinIncorrect, p11.PinLocked, p11.PinExpired, p11.PinInvalid, p11.PinLenRange) as exc:
                # The PIN itself is never part of a message.
                raise KeyProviderUnavailable(f"PKCS#11 token {self.label!r} refused the PIN") from exc
            except p11.MultipleTokensReturned as exc:
                raise KeyProviderUnavailable(f"more than one PKCS#11 token is labelled {self.label!r}") from exc
            self._generation = self._module.generation
        return self._session


@dataclass(frozen=True)
class ImportedKeys:
    """Keys the migration brings into the token from another provider."""

    signing_seed: bytes
    mac_keys: Mapping[str, bytes]


class Pkcs11KeyProvider:
    """``KeyProvider`` over a PKCS#11 token; see the module docstring for the objects it keeps.

    ``prefix`` namespaces the labels, so one token (an HSM partition) can serve several
    deployments. With ``create_if_missing`` (development and tests) an empty namespace gets its
    keys on first use; production leaves it false and runs ``manage.py create_master_keys``.
    MAC keys of a purpose added by a later release are created on first use in either mode.
    """

    def __init__(
        self,
        *,
        module_path: str,
        token_label: str,
        pin: str,
        prefix: str = "reviewsvc",
        create_if_missing: bool = False,
    ) -> None:
        if not prefix or "/" in prefix:
            raise ValueError("the label prefix must be non-empty and contain no '/'")
        self.token = Pkcs11Token.get(module_path=module_path, label=token_label, pin=pin)
        self.prefix = prefix
        self._create_if_missing = create_if_missing
        self._objects: dict[tuple[ObjectClass, str], pkcs11.Object] = {}
        self._current: int | None = None
        self._generation = -1

    # --- KeyProvider -----------------------------------------------------------------------

    def current_version(self) -> int:
        return self._run(self._current_version)

    def versions(self) -> list[int]:
        return self._run(self._versions)

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueError("data key must be 32 bytes")

        def wrap(session: pkcs11.Session) -> bytes:
            version = self._current_version(session)
            # Random 96-bit nonces are safe far beyond the number of data keys one version wraps.
            nonce = os.urandom(WRAP_NONCE_SIZE)
            sealed = cast("EncryptMixin", self._master(session, version)).encrypt(
                data_key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)
            )
            return version.to_bytes(4, "big") + nonce + cast(bytes, sealed)  # bytes in, bytes out

        return self._run(wrap)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        if len(wrapped) != WRAPPED_KEY_SIZE:
            raise KeyUnwrapError("wrapped key is malformed")
        version = wrapped_key_version(wrapped)
        nonce, sealed = wrapped[4 : 4 + WRAP_NONCE_SIZE], wrapped[4 + WRAP_NONCE_SIZE :]

        def unwrap(session: pkcs11.Session) -> bytes:
            key = self._find(session, ObjectClass.SECRET_KEY, self._master_label(version))
            if key is None:
                self._require_master_keys(session)
                raise KeyUnwrapError(f"master key version {version} is unknown or retired")
            try:
                opened = cast("DecryptMixin", key).decrypt(
                    sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)
                )
                return cast(bytes, opened)
            except (*_LOST, *_STALE_HANDLE):
                raise
            except p11.PKCS11Error:
                # Tokens report a failed tag differently (SoftHSM2: CKR_GENERAL_ERROR).
                raise KeyUnwrapError("wrapped key failed authentication") from None

        return self._run(unwrap)

    def rotate(self) -> int:
        def next_version(session: pkcs11.Session) -> int:
            self._current_version(session)  # an empty namespace gets (or lacks) its keys first
            return max(self._versions(session)) + 1

        for _ in range(_CREATE_ATTEMPTS):
            version = self._run(next_version)
            if self._create_once(self._master_label(version), self._make_master):
                self._current = version
                return version
        raise self._contended(self._master_label(version))

    def retire(self, version: int) -> None:
        def retire(session: pkcs11.Session) -> None:
            if version == self._current_version(session):
                raise KeyProviderError("refusing to retire the current master key version")
            key = self._find(session, ObjectClass.SECRET_KEY, self._master_label(version))
            if key is None:
                raise KeyProviderError(f"no master key version {version}")
            key.destroy()
            self._objects.pop((ObjectClass.SECRET_KEY, self._master_label(version)), None)

        self._run(retire)

    def sign(self, message: bytes) -> bytes:
        def sign(session: pkcs11.Session) -> bytes:
            key = cast("SignMixin", self._signing_key(session, ObjectClass.PRIVATE_KEY))
            return bytes(key.sign(message, mechanism=Mechanism.EDDSA))

        return self._run(sign)

    def signing_public_key(self) -> bytes:
        def public_key(session: pkcs11.Session) -> bytes:
            return _raw_ed25519_point(self._signing_key(session, ObjectClass.PUBLIC_KEY)[Attribute.EC_POINT])

        return self._run(public_key)

    def mac(self, purpose: str, message: bytes) -> bytes:
        check_mac_purpose(purpose)

        def mac(session: pkcs11.Session) -> bytes:
            label = f"{self.prefix}/mac/{purpose}"
            key = self._find(session, ObjectClass.SECRET_KEY, label)
            if key is None:
                self._require_master_keys(session)
                raise _Missing(label, self._make_mac)
            return bytes(cast("SignMixin", key).sign(message, mechanism=Mechanism.SHA256_HMAC))

        return self._run(mac)

    def mac_function(self, purpose: str) -> Callable[[bytes], bytes]:
        # The key never leaves the token: every call is a MAC computed inside it.
        check_mac_purpose(purpose)
        return partial(self.mac, purpose)

    def check(self) -> None:
        def check(session: pkcs11.Session) -> None:
            # Cached handles prove nothing about a token that went away: look everything up.
            self._forget()
            self._signing_key(session, ObjectClass.PRIVATE_KEY)

        self._run(check)
        probe = os.urandom(DATA_KEY_SIZE)
        if self.unwrap(self.wrap(probe, context=b"readiness"), context=b"readiness") != probe:
            raise KeyProviderUnavailable(f"PKCS#11 token {self.token.label!r} returned a wrong key")

    # --- operator commands -----------------------------------------------------------------

    def has_keys(self) -> bool:
        """Whether any master key version or the signing key exists under this prefix."""
        return self._run(
            lambda session: (
                bool(self._versions(session))
                or self._find(session, ObjectClass.PRIVATE_KEY, self._signing_label) is not None
            )
        )

    def create_keys(
        self, *, first_version: int = 1, mac_purposes: Iterable[str] = (), imported: ImportedKeys | None = None
    ) -> None:
        """Make the first master key version, the signing key and the MAC keys in an empty namespace.

        With ``imported`` the signing key and the MAC keys are the given ones (the migration
        from the local provider, so signatures and pseudonyms stay valid); the master key is
        always made inside the token.
        """
        if imported is not None:
            mac_purposes = imported.mac_keys
        for purpose in mac_purposes:
            check_mac_purpose(purpose)

        def refuse_if_not_empty(session: pkcs11.Session) -> None:
            if self._versions(session) or self._find(session, ObjectClass.PRIVATE_KEY, self._signing_label):
                raise KeyProviderError(f"token {self.token.label!r} already holds keys labelled {self.prefix}/...")

        self._run(refuse_if_not_empty)
        objects: list[tuple[str, _Maker]] = []
        if imported is None:
            objects.append((self._signing_label, self._make_signing_key))
        else:
            objects.append((self._signing_label, partial(self._import_signing_key, seed=imported.signing_seed)))
        for purpose in mac_purposes:
            value = imported.mac_keys[purpose] if imported else None
            objects.append((f"{self.prefix}/mac/{purpose}", partial(self._make_mac, value=value)))
        # The master key last: a namespace counts as initialised once it has one.
        objects.append((self._master_label(first_version), self._make_master))
        for label, make in objects:
            if not self._create_once(label, make):
                raise self._contended(label)
        self._current = first_version

    # --- inside the lock -------------------------------------------------------------------

    def _run(self, operation: Callable[[pkcs11.Session], T]) -> T:
        def guarded(session: pkcs11.Session) -> T:
            if self._generation != self.token.generation:
                self._forget()
                self._generation = self.token.generation
            try:
                return operation(session)
            except _STALE_HANDLE:
                # A cached object was destroyed (retired elsewhere) or the token was swapped:
                # look everything up again once.
                self._forget()
                return operation(session)

        # Pkcs11Token.run turns whatever PKCS#11 error is left into KeyProviderUnavailable.
        for attempt in range(_CREATE_ATTEMPTS + 1):
            try:
                return self.token.run(guarded)
            except _Missing as missing:
                if attempt == _CREATE_ATTEMPTS:
                    raise self._contended(missing.label) from None
                # Made by this process or a rival: either way the operation finds it next time.
                self._create_once(missing.label, missing.make)
        raise AssertionError("unreachable")  # pragma: no cover

    def _forget(self) -> None:
        self._objects.clear()
        self._current = None

    @property
    def _signing_label(self) -> str:
        return f"{self.prefix}/signing"

    def _master_label(self, version: int) -> str:
        return f"{self.prefix}/master/{version}"

    def _find(self, session: pkcs11.Session, kind: ObjectClass, label: str) -> pkcs11.Object | None:
        cached = self._objects.get((kind, label))
        if cached is not None:
            return cached
        found = list(session.get_objects({Attribute.CLASS: kind, Attribute.LABEL: label}))
        if not found:
            return None
        if len(found) > 1:
            raise KeyProviderUnavailable(f"more than one object labelled {label!r} in the token")
        self._objects[(kind, label)] = found[0]
        return found[0]

    def _versions(self, session: pkcs11.Session) -> list[int]:
        marker = f"{self.prefix}/master/"
        keys = session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES})
        labels = [key[Attribute.LABEL] for key in keys]
        return sorted(int(label[len(marker) :]) for label in labels if label.startswith(marker))

    def _current_version(self, session: pkcs11.Session) -> int:
        current = self._current
        if current is None:
            current = max(self._versions(session), default=0)
            if not current:
                self._initialise(session)
        # The current version is always the highest, versions are never skipped, and a
        # rotation elsewhere adds current + 1: one lookup per call sees it.
        while self._find(session, ObjectClass.SECRET_KEY, self._master_label(current + 1)) is not None:
            current += 1
        self._current = current
        return current

    def _master(self, session: pkcs11.Session, version: int) -> pkcs11.Object:
        key = self._find(session, ObjectClass.SECRET_KEY, self._master_label(version))
        if key is None:
            self._forget()
            raise KeyProviderUnavailable(f"master key version {version} vanished from the token")
        return key

    def _require_master_keys(self, session: pkcs11.Session) -> None:
        if self._current is None and not self._versions(session):
            self._initialise(session)

    def _initialise(self, session: pkcs11.Session) -> NoReturn:
        if not self.token.retrying:
            raise _LookAgain
        if not self._create_if_missing:
            raise KeyProviderUnavailable(
                f"PKCS#11 token {self.token.label!r} holds no master keys labelled {self.prefix}/...: "
                "run manage.py create_master_keys"
            )
        raise _Missing(self._master_label(1), self._make_master)

    def _signing_key(self, session: pkcs11.Session, kind: ObjectClass) -> pkcs11.Object:
        key = self._find(session, kind, self._signing_label)
        if key is None:
            self._current_version(session)  # unavailable if the namespace is not initialised
            if not self._create_if_missing:
                raise KeyProviderUnavailable(f"PKCS#11 token {self.token.label!r} has no signing key")
            raise _Missing(self._signing_label, self._make_signing_key)
        return key

    def _create_once(self, label: str, make: _Maker) -> bool:
        """Create the object(s) labelled ``label`` unless another process does so at the same time.

        PKCS#11 has no atomic "create if absent", so: create under a pending label, then, from a
        fresh view of the token (``Pkcs11Token.refresh``: this process's view may miss a rival
        made at the same moment), look for any other pending or final object of that label; if
        there is one, destroy ours and report False (the caller re-reads, or retries), else give
        ours the final label. Of two racing creators at most one finds no other, since each
        looks only after its own object exists; both may back off, so callers retry a few times
        with jitter. Nothing ever uses a pending object, so a wrap can never be made under a key
        that then loses.
        """
        pending = label.replace(f"{self.prefix}/", f"{self.prefix}/pending/", 1)
        ident = secrets.token_bytes(16)
        self.token.run(lambda session: make(session, pending, ident))

        def settle(session: pkcs11.Session) -> bool:
            found = _readable(
                [*session.get_objects({Attribute.LABEL: pending}), *session.get_objects({Attribute.LABEL: label})]
            )
            mine = [(obj, kind, name) for obj, ident_of, kind, name in found if ident_of == ident]
            kinds = [kind for _, kind, _ in mine]
            # Ours twice over (a make the token reported failed but did, then made again) counts as a rival.
            if len(mine) < len(found) or len(set(kinds)) < len(kinds):
                for obj, _, _ in mine:
                    obj.destroy()
                return False
            for obj, _, _ in sorted((m for m in mine if m[2] == pending), key=lambda m: m[1] != ObjectClass.PUBLIC_KEY):
                obj[Attribute.LABEL] = label
            return True

        try:
            self.token.refresh()
            won = self.token.run(settle)
        except KeyProviderError:
            # Ours must not stay behind, blocking the label: a later attempt makes a new one.
            self.token.run(partial(_destroy_pending, pending=pending, ident=ident))
            raise
        if not won:
            time.sleep(random.uniform(0.005, 0.05))  # noqa: S311  (jitter, not a secret)
        return won

    def _contended(self, label: str) -> KeyProviderError:
        pending = label.replace(f"{self.prefix}/", f"{self.prefix}/pending/", 1)
        return KeyProviderError(
            f"could not create {label!r}: objects labelled {pending!r} are in the way (another process "
            "is creating it now, or an interrupted creation left them: delete them with the token's tool)"
        )

    @staticmethod
    def _make_master(session: pkcs11.Session, label: str, ident: bytes) -> list[pkcs11.Object]:
        template = {
            **_PROTECTED,
            **_NO_OTHER_USE,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.SIGN: False,
            Attribute.VERIFY: False,
        }
        return [session.generate_key(KeyType.AES, 256, label=label, id=ident, store=True, template=template)]

    @staticmethod
    def _make_mac(
        session: pkcs11.Session, label: str, ident: bytes, *, value: bytes | None = None
    ) -> list[pkcs11.Object]:
        template: dict[Attribute, Any] = {
            **_PROTECTED,
            **_NO_OTHER_USE,
            Attribute.SIGN: True,
            Attribute.VERIFY: True,
            Attribute.ENCRYPT: False,
            Attribute.DECRYPT: False,
        }
        if value is None:
            return [
                session.generate_key(KeyType.GENERIC_SECRET, 256, label=label, id=ident, store=True, template=template)
            ]
        imported = {
            **template,
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE: value,
            Attribute.LABEL: label,
            Attribute.ID: ident,
        }
        return [session.create_object(imported)]

    @staticmethod
    def _make_signing_key(session: pkcs11.Session, label: str, ident: bytes) -> list[pkcs11.Object]:
        public, private = session.generate_keypair(
            KeyType.EC_EDWARDS,
            label=label,
            id=ident,
            store=True,
            public_template={
                Attribute.EC_PARAMS: _ED25519_PARAMS,
                Attribute.VERIFY: True,
                Attribute.ENCRYPT: False,
                Attribute.WRAP: False,
                Attribute.MODIFIABLE: True,
            },
            private_template={**_PROTECTED, **_PRIVATE_KEY_NO_OTHER_USE, Attribute.SIGN: True},
        )
        return [public, private]

    @staticmethod
    def _import_signing_key(session: pkcs11.Session, label: str, ident: bytes, *, seed: bytes) -> list[pkcs11.Object]:
        point = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        common = {
            Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
            Attribute.EC_PARAMS: _ED25519_PARAMS,
            Attribute.LABEL: label,
            Attribute.ID: ident,
        }
        public = session.create_object(
            {
                **common,
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.TOKEN: True,
                Attribute.MODIFIABLE: True,
                Attribute.VERIFY: True,
                Attribute.EC_POINT: b"\x04\x20" + point,  # DER OCTET STRING of the raw point
            }
        )
        private = session.create_object(
            {
                **common,
                **_PROTECTED,
                **_PRIVATE_KEY_NO_OTHER_USE,
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.SIGN: True,
                Attribute.VALUE: seed,
            }
        )
        return [public, private]


def _readable(objects: Iterable[pkcs11.Object]) -> list[tuple[pkcs11.Object, bytes, ObjectClass, str]]:
    """Each object with its CKA_ID, class and label; objects destroyed meanwhile (a rival that
    backed off) are left out."""
    readable = []
    for obj in objects:
        try:
            readable.append((obj, bytes(obj[Attribute.ID]), obj[Attribute.CLASS], str(obj[Attribute.LABEL])))
        except _STALE_HANDLE:
            continue
    return readable


def _destroy_pending(session: pkcs11.Session, *, pending: str, ident: bytes) -> None:
    for obj, ident_of, _, _ in _readable(session.get_objects({Attribute.LABEL: pending})):
        if ident_of == ident:
            obj.destroy()


def _raw_ed25519_point(point: bytes) -> bytes:
    """CKA_EC_POINT of an Ed25519 key: a DER OCTET STRING (PKCS#11 3.0), or the raw 32 bytes."""
    point = bytes(point)
    if len(point) == 34 and point[:2] == b"\x04\x20":
        return point[2:]
    if len(point) == 32:
        return point
    raise KeyProviderUnavailable("the token's signing public key is not an Ed25519 point")
