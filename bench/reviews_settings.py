"""Settings for bench_reviews: the local settings plus a baseline audio view, quiet logs."""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.reviews_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
