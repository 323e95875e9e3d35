"""Settings for bench_identity: the local settings (Argon2id first) plus two probe endpoints."""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.identity_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
