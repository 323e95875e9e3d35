"""A throwaway SoftHSM2 token for the tests, and helpers to look inside it.

One token per test run (``SOFTHSM2_CONF`` names a config whose token directory is a temp dir);
each test gets its own label prefix in it, so a rotation in one test cannot shift another's
versions, and its objects are destroyed when the test ends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULE_PATHS = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "1234"


@dataclass(frozen=True)
class SoftHsmToken:
    module: str
    label: str
    pin: str
    directory: Path | None  # None: a vendor's token, which the tests cannot unplug

    def unplugged(self) -> Path:
        """The token directory, for tests that take it away; skips on a vendor's token."""
        if self.directory is None:
            pytest.skip("needs a SoftHSM2 token made by the tests")
        return self.directory

    def provider(self, prefix: str | None = None, *, create_if_missing: bool = True):
        from reviewsvc.crypto.hsm import Pkcs11KeyProvider

        return Pkcs11KeyProvider(
            module_path=self.module,
            token_label=self.label,
            pin=self.pin,
            prefix=prefix or new_prefix(),
            create_if_missing=create_if_missing,
        )


def key_provider_env(settings) -> dict[str, str]:
    """What a child process (a worker, a second node) needs to use this test's keys."""
    if settings.REVIEWSVC_KEY_PROVIDER != "pkcs11":
        return {"REVIEWSVC_KEY_FILE": settings.REVIEWSVC_KEY_FILE}
    return _token_env(
        settings.REVIEWSVC_PKCS11_MODULE,
        settings.REVIEWSVC_PKCS11_TOKEN,
        settings.REVIEWSVC_PKCS11_PIN,
        settings.REVIEWSVC_PKCS11_KEY_PREFIX,
    )


def _token_env(module: str, token: str, pin: str, prefix: str) -> dict[str, str]:
    return {
        "SOFTHSM2_CONF": os.environ.get("SOFTHSM2_CONF", ""),
        "REVIEWSVC_TEST_KEY_PROVIDER": "pkcs11",
        "REVIEWSVC_PKCS11_MODULE": module,
        "REVIEWSVC_PKCS11_TOKEN": token,
        "REVIEWSVC_PKCS11_PIN": pin,
        "REVIEWSVC_PKCS11_KEY_PREFIX": prefix,
    }


@contextmanager
def server_keys(request, key_file: Path) -> Iterator[dict[str, str]]:
    """Keys of their own for servers a session- or module-scoped fixture starts, before any test's
    keys exist: the environment they need. ``key_file`` with the local provider; with pkcs11 the
    run's token and a label prefix of their own, destroyed when the fixture ends."""
    from django.conf import settings

    if settings.REVIEWSVC_KEY_PROVIDER != "pkcs11":
        yield {"REVIEWSVC_KEY_FILE": str(key_file)}
        return
    token = request.getfixturevalue("softhsm")
    prefix = new_prefix()
    try:
        yield _token_env(token.module, token.label, token.pin, prefix)
    finally:
        destroy_prefix(token, prefix)


def use_server_keys(settings, env: dict[str, str]) -> None:
    """Point this test at the keys of ``server_keys(...)``: the test and the servers share them."""
    if "REVIEWSVC_KEY_FILE" in env:
        settings.REVIEWSVC_KEY_FILE = env["REVIEWSVC_KEY_FILE"]
    else:
        settings.REVIEWSVC_PKCS11_KEY_PREFIX = env["REVIEWSVC_PKCS11_KEY_PREFIX"]


def another_nodes_provider(settings):
    """A provider of its own on this test's keys, as another node holds: not the cached one."""
    if settings.REVIEWSVC_KEY_PROVIDER != "pkcs11":
        from reviewsvc.crypto.keys import LocalKeyProvider

        return LocalKeyProvider(Path(settings.REVIEWSVC_KEY_FILE))
    from reviewsvc.crypto.hsm import Pkcs11KeyProvider

    return Pkcs11KeyProvider(
        module_path=settings.REVIEWSVC_PKCS11_MODULE,
        token_label=settings.REVIEWSVC_PKCS11_TOKEN,
        pin=settings.REVIEWSVC_PKCS11_PIN,
        prefix=settings.REVIEWSVC_PKCS11_KEY_PREFIX,
    )


def new_prefix() -> str:
    return f"test-{secrets.token_hex(6)}"


def softhsm_missing() -> str | None:
    """Why SoftHSM2 tests cannot run here, or None."""
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 is not installed (pip install -r requirements.txt)"
    if not shutil.which("softhsm2-util") or not any(Path(p).exists() for p in MODULE_PATHS):
        return "SoftHSM2 is not installed (apt-get install softhsm2; .ci/run does)"
    return None


def make_token(directory: Path, label: str = "reviewsvc-test") -> SoftHsmToken:
    """Initialise a token in ``directory`` and point this process's SoftHSM2 at it."""
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, mode=0o700)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    # SoftHSM2 reads SOFTHSM2_CONF when the module is first initialised, in this process and in
    # every child it starts.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    module = next(p for p in MODULE_PATHS if Path(p).exists())
    return SoftHsmToken(module=module, label=label, pin=PIN, directory=tokens)


def destroy_prefix(token: SoftHsmToken, prefix: str) -> None:
    """Destroy every object labelled ``{prefix}/...`` (a test's keys, when it ends)."""
    from pkcs11 import Attribute

    def destroy(session) -> None:
        for obj in list(session.get_objects()):
            if str(obj[Attribute.LABEL]).startswith(prefix + "/"):
                obj.destroy()

    token.provider(prefix).token.run(destroy)


@pytest.fixture(scope="session")
def softhsm() -> Iterator[SoftHsmToken]:
    """The run's SoftHSM2 token; skips, saying why, where SoftHSM2 is missing.

    In /dev/shm where there is one: SoftHSM2 syncs every object it writes, which costs ~0.1 s
    per key on a disk and nothing on tmpfs. ``REVIEWSVC_TEST_PKCS11_MODULE``, ``_TOKEN`` and
    ``_PIN`` point the tests at an existing, empty token of another module instead (a vendor's
    HSM partition set aside for testing).
    """
    vendor = [os.environ.get(f"REVIEWSVC_TEST_PKCS11_{name}", "") for name in ("MODULE", "TOKEN", "PIN")]
    if all(vendor):
        yield SoftHsmToken(module=vendor[0], label=vendor[1], pin=vendor[2], directory=None)
        return
    reason = softhsm_missing()
    if reason:
        pytest.skip(reason)
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="reviewsvc-softhsm-", dir=shm if os.access(shm, os.W_OK) else None))
    try:
        yield make_token(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
