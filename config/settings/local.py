"""The embedded default: SQLite, in-memory cache, filesystem broker, local key file, all under var/.

Served on 127.0.0.1 over plain HTTP, so cookies cannot be ``Secure`` here; production turns
that on. The session secret is made on first run and kept in ``var/secret_key`` (mode 0600).
"""

import os
import secrets

from config.env import env_bool, env_secret
from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR


def _local_secret_key() -> str:
    path = VAR_DIR / "secret_key"
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env_secret("SECRET_KEY") or _local_secret_key()
DEBUG = env_bool("REVIEWSVC_DEBUG", False)
