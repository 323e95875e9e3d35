"""Tests: a throwaway var/ per process, in-process tasks, a cheap password hasher.

DATABASE_URL and REDIS_URL, when set, point the suite at real PostgreSQL and Redis.
"""

import atexit
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import CACHES, REDIS_URL, STORAGES

# A worker started by a test shares the test process's var/ through REVIEWSVC_VAR_DIR.
if os.environ.get("REVIEWSVC_VAR_DIR"):
    VAR_DIR = Path(os.environ["REVIEWSVC_VAR_DIR"])
else:
    VAR_DIR = Path(tempfile.mkdtemp(prefix="reviewsvc-test-"))
    _made_by = os.getpid()
    # Removed when the process that made it ends; not by a forked child (a gunicorn or Celery
    # worker) that exits while its parent still uses it.
    atexit.register(lambda: os.getpid() == _made_by and shutil.rmtree(VAR_DIR, ignore_errors=True))
SECRET_KEY = secrets.token_urlsafe(50)
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

# Hashing is not what the suite measures; production settings keep Argon2id first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
if REDIS_URL:
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"test-{secrets.token_hex(4)}"}}

STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
REVIEWSVC_KEY_FILE = os.environ.get("REVIEWSVC_KEY_FILE") or str(VAR_DIR / "keys" / "master-keys.json")
# REVIEWSVC_TEST_KEY_PROVIDER=pkcs11 runs the suite with its keys in a SoftHSM2 token that
# tests/softhsm.py makes; each test gets keys of its own under a label prefix of its own.
REVIEWSVC_KEY_PROVIDER = os.environ.get("REVIEWSVC_TEST_KEY_PROVIDER") or "local"
REVIEWSVC_PKCS11_CREATE_KEYS = True
REVIEWSVC_CHECKPOINT_DIR = str(VAR_DIR / "checkpoints")
STORAGES = {
    **STORAGES,
    "clips": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": os.environ.get("REVIEWSVC_STORAGE") or str(VAR_DIR / "blobs"),
            "file_permissions_mode": 0o600,
        },
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The suite reads events right after the requests that write them: PostgreSQL appends sealed,
# under the lock. tests/apps/audit/test_sealer.py runs real flows with the sealer instead.
REVIEWSVC_AUDIT_SEALER = False
