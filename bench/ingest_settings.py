"""Settings for bench_ingest: the local settings plus a baseline upload view."""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.ingest_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
