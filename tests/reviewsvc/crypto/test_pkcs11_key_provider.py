"""Pkcs11KeyProvider specifics, against a SoftHSM2 token: what the token refuses to give out,
lost sessions, threads, fork, two processes creating at once, an empty token."""

from __future__ import annotations

import multiprocessing
import shutil
import threading
from collections.abc import Iterator

import pytest

from reviewsvc.crypto.errors import KeyProviderError, KeyProviderUnavailable
from reviewsvc.crypto.hsm import ImportedKeys, Pkcs11KeyProvider, Pkcs11Token, _raw_ed25519_point, _readable
from reviewsvc.crypto.keys import MAC_PURPOSES, LocalKeyProvider, verify_signature
from tests.softhsm import SoftHsmToken, destroy_prefix, new_prefix

pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed")
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass  # noqa: E402
from pkcs11 import exceptions as p11  # noqa: E402

CONTEXT = b"clip 7 of subject 3"
DATA_KEY = bytes(range(32))


@pytest.fixture
def prefix(softhsm: SoftHsmToken) -> Iterator[str]:
    prefix = new_prefix()
    yield prefix
    destroy_prefix(softhsm, prefix)


@pytest.fixture
def provider(softhsm: SoftHsmToken, prefix: str) -> Pkcs11KeyProvider:
    provider = softhsm.provider(prefix, create_if_missing=False)
    provider.create_keys(mac_purposes=MAC_PURPOSES)
    return provider


def objects_of(provider: Pkcs11KeyProvider) -> list:
    def listing(session):
        return [o for o in session.get_objects() if str(o[Attribute.LABEL]).startswith(provider.prefix + "/")]

    return provider.token.run(listing)


def test_every_key_is_a_sensitive_unextractable_token_object_made_in_the_token(provider: Pkcs11KeyProvider) -> None:
    provider.rotate()
    keys = [o for o in objects_of(provider) if o[Attribute.CLASS] != ObjectClass.PUBLIC_KEY]
    labels = sorted(str(o[Attribute.LABEL]) for o in keys)
    p = provider.prefix
    assert labels == sorted(
        [f"{p}/master/1", f"{p}/master/2", f"{p}/signing", *(f"{p}/mac/{purpose}" for purpose in MAC_PURPOSES)]
    )
    for key in keys:
        attrs = provider.token.run(
            lambda s, key=key: key.get_attributes(
                [
                    Attribute.TOKEN,
                    Attribute.PRIVATE,
                    Attribute.SENSITIVE,
                    Attribute.EXTRACTABLE,
                    Attribute.ALWAYS_SENSITIVE,
                    Attribute.NEVER_EXTRACTABLE,
                    Attribute.LOCAL,
                ]
            )
        )
        assert attrs == {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.ALWAYS_SENSITIVE: True,
            Attribute.NEVER_EXTRACTABLE: True,
            Attribute.LOCAL: True,
        }, key[Attribute.LABEL]


def test_the_token_refuses_every_attempt_to_export_a_key(provider: Pkcs11KeyProvider) -> None:
    keys = [o for o in objects_of(provider) if o[Attribute.CLASS] != ObjectClass.PUBLIC_KEY]

    def attempts(session, key) -> None:
        read_value_is_refused(key)
        wrapping_key = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        with pytest.raises(p11.KeyUnextractable):
            wrapping_key.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        # Once sensitive and unextractable, always: the token will not turn either back.
        with pytest.raises(p11.AttributeReadOnly):
            key[Attribute.EXTRACTABLE] = True
        with pytest.raises(p11.AttributeReadOnly):
            key[Attribute.SENSITIVE] = False
        # A copy (C_CopyObject) cannot loosen them either.
        with pytest.raises((p11.AttributeReadOnly, p11.TemplateInconsistent, p11.AttributeValueInvalid)):
            key.copy({Attribute.EXTRACTABLE: True, Attribute.TOKEN: False})

    for key in keys:
        provider.token.run(lambda session, key=key: attempts(session, key))


def test_imported_signing_and_mac_keys_are_as_closed_as_generated_ones(
    softhsm: SoftHsmToken, prefix: str, tmp_path
) -> None:
    local = LocalKeyProvider(tmp_path / "master.json")
    seed, mac_keys = local.migration_keys()
    provider = softhsm.provider(prefix, create_if_missing=False)
    provider.create_keys(first_version=2, imported=ImportedKeys(signing_seed=seed, mac_keys=mac_keys))

    assert provider.signing_public_key() == local.signing_public_key()
    assert verify_signature(local.signing_public_key(), b"m", provider.sign(b"m"))
    for purpose in MAC_PURPOSES:
        assert provider.mac(purpose, b"subject-1") == local.mac(purpose, b"subject-1")
    for key in objects_of(provider):
        if key[Attribute.CLASS] == ObjectClass.PUBLIC_KEY:
            continue
        assert (key[Attribute.SENSITIVE], key[Attribute.EXTRACTABLE]) == (True, False)
        provider.token.run(lambda session, key=key: read_value_is_refused(key))


def read_value_is_refused(key) -> None:
    with pytest.raises(p11.AttributeSensitive):
        key[Attribute.VALUE]


def test_an_empty_token_is_unavailable_until_create_master_keys_and_that_runs_once(
    softhsm: SoftHsmToken, prefix: str
) -> None:
    provider = softhsm.provider(prefix, create_if_missing=False)
    for call in (provider.check, provider.current_version, lambda: provider.wrap(DATA_KEY, context=CONTEXT)):
        with pytest.raises(KeyProviderUnavailable, match="create_master_keys"):
            call()
    with pytest.raises(KeyProviderUnavailable):
        provider.sign(b"m")
    assert not objects_of(provider), "an unavailable provider created something"

    provider.create_keys(mac_purposes=MAC_PURPOSES)
    provider.check()
    with pytest.raises(KeyProviderError, match="already holds keys"):
        provider.create_keys(mac_purposes=MAC_PURPOSES)
    assert provider.versions() == [1]


def test_a_wrong_pin_makes_the_provider_unavailable_without_naming_the_pin(softhsm: SoftHsmToken, prefix: str) -> None:
    wrong = Pkcs11KeyProvider(module_path=softhsm.module, token_label=softhsm.label, pin="0000-wrong", prefix=prefix)
    with pytest.raises(KeyProviderUnavailable, match="refused the PIN") as refused:
        wrong.check()
    assert "0000-wrong" not in str(refused.value)


def test_an_unknown_token_label_makes_the_provider_unavailable(softhsm: SoftHsmToken, prefix: str) -> None:
    missing = Pkcs11KeyProvider(module_path=softhsm.module, token_label="no-such-token", pin=softhsm.pin)
    with pytest.raises(KeyProviderUnavailable, match="no-such-token"):
        missing.check()


def test_a_lost_session_is_reopened(provider: Pkcs11KeyProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    # What a token restart does to a client: every session and handle of the process is gone.
    provider.token.run(lambda session: provider.token._module.lib.reinitialize())
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert verify_signature(provider.signing_public_key(), b"m", provider.sign(b"m"))


def test_an_unreachable_token_is_unavailable_and_is_used_again_once_it_is_back(
    softhsm: SoftHsmToken, provider: Pkcs11KeyProvider
) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    directory = softhsm.unplugged()
    away = directory.with_name("away")
    shutil.move(directory, away)
    try:
        with pytest.raises(KeyProviderUnavailable):
            provider.check()
        with pytest.raises(KeyProviderUnavailable):
            provider.unwrap(wrapped, context=CONTEXT)
    finally:
        shutil.move(away, directory)
    provider.check()
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_a_token_the_module_misses_for_a_moment_is_looked_for_again(
    provider: Pkcs11KeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What SoftHSM2 does while other processes write the token (their logins do): it lists no
    # such token, several times in a row when many processes sign in at once.
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    real_open, misses = provider.token._open, []

    def open_session():
        if len(misses) < 3:
            misses.append("no such token")
            raise p11.NoSuchToken
        return real_open()

    with monkeypatch.context() as patched:
        patched.setattr(provider.token, "_open", open_session)
        assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert len(misses) == 3


def test_a_fresh_view_of_a_token_that_is_not_there_is_tried_a_few_times_then_unavailable(
    softhsm: SoftHsmToken,
) -> None:
    token = Pkcs11Token.get(module_path=softhsm.module, label="no-such-token", pin=softhsm.pin)
    with pytest.raises(KeyProviderUnavailable, match="'no-such-token' is unreachable"):
        token.refresh()


def test_threads_share_one_provider_safely(provider: Pkcs11KeyProvider) -> None:
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                key = bytes([n, i]) * 16
                context = f"{n}/{i}".encode()
                assert provider.unwrap(provider.wrap(key, context=context), context=context) == key
                assert len(provider.mac("subject", context)) == 32
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures


def _use_after_fork(provider: Pkcs11KeyProvider, wrapped: bytes, results) -> None:
    results.put(provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY and provider.rotate() == 2)


def test_a_forked_child_opens_its_own_session(provider: Pkcs11KeyProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    child = fork.Process(target=_use_after_fork, args=(provider, wrapped, results))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert results.get(timeout=5) is True
    # The parent's session still works, and sees the child's rotation.
    assert provider.current_version() == 2
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def _rotate(token: SoftHsmToken, prefix: str, start, results) -> None:
    provider = token.provider(prefix)
    start.wait()
    versions = []
    for _ in range(3):
        try:
            versions.append(provider.rotate())
        except KeyProviderError:
            versions.append(None)
    results.put(versions)


def test_two_processes_rotating_at_once_never_make_one_version_twice(
    softhsm: SoftHsmToken, provider: Pkcs11KeyProvider
) -> None:
    spawn = multiprocessing.get_context("spawn")
    # A barrier, not an event: both start rotating when both are ready, however slow the start.
    start, results = spawn.Barrier(2), spawn.Queue()
    children = [spawn.Process(target=_rotate, args=(softhsm, provider.prefix, start, results)) for _ in range(2)]
    for child in children:
        child.start()
    # Generous timeouts: spawned children import the whole stack, on a machine others share.
    made = [v for _ in children for v in results.get(timeout=180) if v is not None]
    for child in children:
        child.join(timeout=60)
    assert len(made) == len(set(made)), f"a version was made twice: {made}"
    labels = [str(o[Attribute.LABEL]) for o in objects_of(provider)]
    masters = [label for label in labels if "/master/" in label]
    assert len(masters) == len(set(masters)), labels
    assert provider.versions() == sorted([1, *made]), (labels, made)
    assert not [label for label in labels if "/pending/" in label], labels


def _first_use(token: SoftHsmToken, prefix: str, start, results) -> None:
    provider = token.provider(prefix)
    start.wait()
    try:
        results.put((provider.mac("subject", b"subject-1"), provider.signing_public_key(), provider.current_version()))
    except KeyProviderUnavailable as exc:
        # SoftHSM2 may refuse a login while other processes log in and write the token: an
        # error, never a wrong key, and not what this test is about.
        results.put(repr(exc))


def test_processes_using_an_empty_namespace_at_once_make_each_key_once_and_share_it(
    softhsm: SoftHsmToken, prefix: str
) -> None:
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(4), spawn.Queue()
    children = [spawn.Process(target=_first_use, args=(softhsm, prefix, start, results)) for _ in range(4)]
    for child in children:
        child.start()
    seen = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=60)
    answers = {answer for answer in seen if isinstance(answer, tuple)}
    # One MAC key, one signing key, one first master key: every process that answered got the same.
    assert len(answers) == 1, seen
    assert next(iter(answers))[2] == 1
    labels = [str(o[Attribute.LABEL]) for o in objects_of(softhsm.provider(prefix))]
    assert sorted(labels) == sorted(
        [f"{prefix}/master/1", f"{prefix}/signing", f"{prefix}/signing", f"{prefix}/mac/subject"]
    )


def test_a_creation_that_fails_midway_leaves_nothing_in_the_way(
    provider: Pkcs11KeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise KeyProviderUnavailable("the token went away")

    with monkeypatch.context() as patched:
        patched.setattr(provider.token, "refresh", unreachable)
        with pytest.raises(KeyProviderUnavailable, match="went away"):
            provider.rotate()
    assert not [o for o in objects_of(provider) if "/pending/" in str(o[Attribute.LABEL])]
    assert provider.rotate() == 2


def test_an_object_left_by_an_interrupted_rotation_blocks_rotation_and_says_so(provider: Pkcs11KeyProvider) -> None:
    stale = f"{provider.prefix}/pending/master/2"
    provider.token.run(lambda session: session.generate_key(KeyType.AES, 256, label=stale, store=True))
    with pytest.raises(KeyProviderError, match=stale):
        provider.rotate()
    assert provider.versions() == [1]


def test_an_object_left_by_an_interrupted_mac_key_creation_blocks_that_purpose_and_says_so(
    softhsm: SoftHsmToken, prefix: str
) -> None:
    provider = softhsm.provider(prefix)
    provider.current_version()
    stale = f"{prefix}/pending/mac/subject"
    provider.token.run(
        lambda session: session.generate_key(KeyType.GENERIC_SECRET, 256, label=stale, id=b"crashed", store=True)
    )
    with pytest.raises(KeyProviderError, match=stale):
        provider.mac("subject", b"subject-1")
    assert not [o for o in objects_of(provider) if str(o[Attribute.LABEL]) == f"{prefix}/mac/subject"]


def test_a_creation_that_made_its_object_twice_backs_off_and_leaves_nothing(provider: Pkcs11KeyProvider) -> None:
    """A make the token reported failed although it worked, then made again: two objects of one
    kind with our id, which must not both become the key."""

    def twice(session, label: str, ident: bytes) -> list:
        return [session.generate_key(KeyType.AES, 256, label=label, id=ident, store=True) for _ in range(2)]

    label = f"{provider.prefix}/master/2"
    assert provider._create_once(label, twice) is False
    assert not [o for o in objects_of(provider) if str(o[Attribute.LABEL]).endswith("/master/2")]
    assert provider.rotate() == 2


def test_an_object_destroyed_while_being_listed_is_left_out(provider: Pkcs11KeyProvider) -> None:
    def made_and_destroyed(session) -> list:
        kept = session.generate_key(KeyType.AES, 256, label=f"{provider.prefix}/kept", id=b"k", store=True)
        gone = session.generate_key(KeyType.AES, 256, label=f"{provider.prefix}/gone", id=b"g", store=True)
        gone.destroy()
        return _readable([gone, kept])

    [(_, ident, kind, label)] = provider.token.run(made_and_destroyed)
    assert (ident, kind, label) == (b"k", ObjectClass.SECRET_KEY, f"{provider.prefix}/kept")


def test_a_token_that_lost_its_signing_key_is_unavailable_and_gets_no_new_one(provider: Pkcs11KeyProvider) -> None:
    def destroy_signing_key(session) -> None:
        for obj in list(session.get_objects({Attribute.LABEL: f"{provider.prefix}/signing"})):
            obj.destroy()

    provider.token.run(destroy_signing_key)
    with pytest.raises(KeyProviderUnavailable, match="no signing key"):
        provider.check()
    with pytest.raises(KeyProviderUnavailable, match="no signing key"):
        provider.sign(b"checkpoint")
    assert not [o for o in objects_of(provider) if str(o[Attribute.LABEL]).endswith("/signing")]


@pytest.mark.parametrize("prefix", ["", "a/b"])
def test_it_refuses_a_label_prefix_that_is_empty_or_has_a_slash(softhsm: SoftHsmToken, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        Pkcs11KeyProvider(module_path=softhsm.module, token_label=softhsm.label, pin=softhsm.pin, prefix=prefix)


def test_an_ed25519_point_is_read_in_either_encoding_and_anything_else_is_refused() -> None:
    point = bytes(range(32))
    assert _raw_ed25519_point(b"\x04\x20" + point) == _raw_ed25519_point(point) == point
    for malformed in (point[:31], b"\x04\x21" + point + b"\x00", b"\x03\x20" + point):
        with pytest.raises(KeyProviderUnavailable, match="Ed25519"):
            _raw_ed25519_point(malformed)
