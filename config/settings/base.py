"""Settings shared by every environment. Each value comes from the environment or is a safe default.

``local`` (the embedded default), ``production`` and ``test`` build on this file; none of them
holds a secret.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from config.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("REVIEWSVC_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "csp",
    "apps.common",
    "apps.audit",
    "apps.keys",
    "apps.facilities",
    "apps.accounts",
    "apps.clips",
    "apps.reviews",
    "apps.privacy",
    "apps.console",
]

MIDDLEWARE = [
    "apps.common.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.common.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's AuthenticationMiddleware and django-otp's OTPMiddleware, in one query.
    "apps.accounts.middleware.IdentityMiddleware",
    "apps.accounts.middleware.StaffNetworkMiddleware",
    "apps.accounts.middleware.SessionPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'reviewsvc.sqlite3'}")
DATABASES = {
    # Persistent connections with health checks: connection set-up costs more than a one-row
    # query on PostgreSQL.
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend without its extra round trips, with prepared key lookups (config/postgresql).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
# The password may come from a mounted secret (DATABASE_PASSWORD_FILE) instead of the URL.
if _database_password := env_secret("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = _database_password
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two writers never both
        # read a queued clip and then both lease it; WAL lets readers go on meanwhile.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, broker, tasks -------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The embedded broker: kombu's filesystem transport under var/. Messages hold ids only.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
# JSON only: a pickle on the broker could run code in the worker.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE["privacy.retention_sweep"] = {"task": "privacy.retention_sweep", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["reviews.expire_leases"] = {"task": "reviews.expire_leases", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["audit.checkpoint"] = {"task": "audit.checkpoint", "schedule": 300.0}
# A fallback for the sealer loop: seals what is pending when no `audit_sealer` process leads.
CELERY_BEAT_SCHEDULE["audit.seal"] = {"task": "audit.seal", "schedule": 5.0}
CELERY_BEAT_SCHEDULE["audit.event_counts"] = {"task": "audit.event_counts", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["audit.baseline_alerts"] = {"task": "audit.baseline_alerts", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["common.wrapped_keys_rewrap"] = {"task": "common.wrapped_keys_rewrap", "schedule": 3600.0}
# Also sent by every shred; on a schedule too, for a message the broker lost.
CELERY_BEAT_SCHEDULE["clips.blobs_sweep"] = {"task": "clips.blobs_sweep", "schedule": 600.0}
CELERY_BEAT_SCHEDULE["privacy.exports_resume"] = {"task": "privacy.exports_resume", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["common.counters_purge"] = {"task": "common.counters_purge", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["clips.blobs_orphans_sweep"] = {"task": "clips.blobs_orphans_sweep", "schedule": 3600.0}
# Follow-up tasks wait in the outbox until the broker takes them (apps/common/outbox.py).
CELERY_BEAT_SCHEDULE["common.outbox_relay"] = {"task": "common.outbox_relay", "schedule": 10.0}
CELERY_BEAT_SCHEDULE["audit.siem_forward"] = {"task": "audit.siem_forward", "schedule": 5.0}

# --- Passwords, sessions, OTP ---------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "apps.common.validators.MaximumLengthValidator", "OPTIONS": {"max_length": 128}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_ENGINE = "apps.accounts.session_store"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# The absolute lifetime; the 15-minute idle limit is enforced server-side by the accounts app.
SESSION_COOKIE_AGE = 10 * 60 * 60
SESSION_IDLE_SECONDS = 15 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
LOGIN_URL = "/login/"
# Failed logins are counted per submitted username in the database, existing or not.
REVIEWSVC_LOGIN_MAX_FAILURES = env_int("REVIEWSVC_LOGIN_MAX_FAILURES", 10)
REVIEWSVC_LOGIN_WINDOW_SECONDS = env_int("REVIEWSVC_LOGIN_WINDOW_SECONDS", 15 * 60)
REVIEWSVC_LOGIN_LOCKOUT_SECONDS = env_int("REVIEWSVC_LOGIN_LOCKOUT_SECONDS", 15 * 60)
# Attempts from outside every facility and admin network: refused unhashed, and past this many
# per source network (/24, /56) in the window answered 429 without a further event.
REVIEWSVC_LOGIN_OUTSIDE_MAX_ATTEMPTS = env_int("REVIEWSVC_LOGIN_OUTSIDE_MAX_ATTEMPTS", 20)
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_ISSUER = "reviewsvc"
# Each failure doubles the wait before a device accepts another try.
OTP_TOTP_THROTTLE_FACTOR = 1

# Security keys and passkeys (django-otp-webauthn) as a second factor only: passwordless off.
# The RP ID is the site's host name (an IP address cannot be one: use a name, e.g. localhost) and
# the only origin accepted is the site's own, so an assertion made for another origin fails.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_NAME = "reviewsvc"
OTP_WEBAUTHN_TIMEOUT_SECONDS = 120
# PEM bundle of the authenticator vendors' attestation roots; needed by a facility that pins
# authenticator models (AAGUIDs).
REVIEWSVC_WEBAUTHN_ATTESTATION_ROOTS = env_str("REVIEWSVC_WEBAUTHN_ATTESTATION_ROOTS")

# --- Security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: every view names who may call it.
    "DEFAULT_PERMISSION_CLASSES": ["apps.common.permissions.DenyAll"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.audit.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.common.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_PAGINATION_CLASS": "apps.common.pagination.CursorPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "reviewsvc API",
    "DESCRIPTION": "Secure human review of voice-assistant recordings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- reviewsvc ------------------------------------------------------------------------------
REVIEWSVC_SITE_URL = env_str("REVIEWSVC_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# WebAuthn's RP ID is a host name, never an IP address: a site at http://127.0.0.1:PORT (the
# embedded default) takes security keys at http://localhost:PORT.
_site = urlsplit(REVIEWSVC_SITE_URL)
_site_host = _site.hostname or "localhost"
if _site_host.replace(".", "").isdigit() or ":" in _site_host:
    _site_host = "localhost"
OTP_WEBAUTHN_RP_ID = env_str("REVIEWSVC_WEBAUTHN_RP_ID", _site_host)
OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"{_site.scheme}://{_site_host}{f':{_site.port}' if _site.port else ''}"]
REVIEWSVC_REGIONS = env_list("REVIEWSVC_REGIONS", "EU,US")
REVIEWSVC_MAX_UPLOAD_BYTES = env_int("REVIEWSVC_MAX_UPLOAD_BYTES", 20 * 1000 * 1000)
REVIEWSVC_TRUSTED_PROXIES = env_list("REVIEWSVC_TRUSTED_PROXIES")
REVIEWSVC_ADMIN_NETWORKS = env_list("REVIEWSVC_ADMIN_NETWORKS", "127.0.0.0/8,::1/128")
REVIEWSVC_REVIEW_ACCIDENTAL = env_bool("REVIEWSVC_REVIEW_ACCIDENTAL", False)
REVIEWSVC_OPTOUT_KEEP_AUDIO = env_bool("REVIEWSVC_OPTOUT_KEEP_AUDIO", False)
REVIEWSVC_RETENTION_DAYS = env_int("REVIEWSVC_RETENTION_DAYS", 90)
REVIEWSVC_TRANSCRIPT_RETENTION_DAYS = env_int("REVIEWSVC_TRANSCRIPT_RETENTION_DAYS", 365)
REVIEWSVC_LEASE_SECONDS = env_int("REVIEWSVC_LEASE_SECONDS", 600)
REVIEWSVC_KEY_PROVIDER = env_str("REVIEWSVC_KEY_PROVIDER", "local")
REVIEWSVC_KEY_FILE = env_str("REVIEWSVC_KEY_FILE", str(VAR_DIR / "keys" / "master-keys.json"))
# A master-key version no row uses is retired only by a re-wrap run at least this long after the
# first run that found it unused: longer than any ingest takes from wrapping to committing.
REVIEWSVC_KEY_RETIRE_GRACE_SECONDS = env_int("REVIEWSVC_KEY_RETIRE_GRACE_SECONDS", 3600)
# The embedded default makes its key file on first run; production must find the mounted one, so
# a missing volume makes the service unready instead of quietly starting with fresh keys.
REVIEWSVC_KEY_FILE_CREATE = True
# REVIEWSVC_KEY_PROVIDER=pkcs11: master keys in an HSM token (docs/KEYS.md). The vendor's module,
# the token's label, the user PIN (or REVIEWSVC_PKCS11_PIN_FILE); the key labels start with the
# prefix, so one HSM partition can serve several deployments.
REVIEWSVC_PKCS11_MODULE = env_str("REVIEWSVC_PKCS11_MODULE")
REVIEWSVC_PKCS11_TOKEN = env_str("REVIEWSVC_PKCS11_TOKEN")
REVIEWSVC_PKCS11_PIN = env_secret("REVIEWSVC_PKCS11_PIN")
REVIEWSVC_PKCS11_KEY_PREFIX = env_str("REVIEWSVC_PKCS11_KEY_PREFIX", "reviewsvc")
# False: an empty token makes the service unready until `manage.py create_master_keys` has run.
REVIEWSVC_PKCS11_CREATE_KEYS = env_bool("REVIEWSVC_PKCS11_CREATE_KEYS", False)
REVIEWSVC_CHECKPOINT_DIR = env_str("REVIEWSVC_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints"))
# More places outside the database that keep every signed checkpoint, as aliases in STORAGES
# (e.g. an S3 object-lock bucket through django-storages); verification reads every one.
REVIEWSVC_CHECKPOINT_STORAGES = env_list("REVIEWSVC_CHECKPOINT_STORAGES")
# The checkpoints' origin line and signing key name (c2sp.org/tlog-checkpoint): a schema-less URL.
REVIEWSVC_AUDIT_LOG_ORIGIN = env_str(
    "REVIEWSVC_AUDIT_LOG_ORIGIN", REVIEWSVC_SITE_URL.split("://", 1)[-1] + "/audit-log"
)
REVIEWSVC_ALERT_WEBHOOK_URL = env_str("REVIEWSVC_ALERT_WEBHOOK_URL")
# PostgreSQL: True (the default) appends events unsealed, without a lock, and the sealer
# (`manage.py audit_sealer`, the beat task audit.seal as a fallback) sequences and chains them
# in batches; False appends each sealed under one lock (docs/AUDIT.md). SQLite always appends sealed.
REVIEWSVC_AUDIT_SEALER = env_bool("REVIEWSVC_AUDIT_SEALER", True)
REVIEWSVC_AUDIT_SEAL_BATCH = env_int("REVIEWSVC_AUDIT_SEAL_BATCH", 500)
REVIEWSVC_AUDIT_SEAL_INTERVAL_MS = env_int("REVIEWSVC_AUDIT_SEAL_INTERVAL_MS", 200)
# Streaming sealed events to a SIEM (apps/audit/forwarding.py): JSON lines to an HTTPS endpoint
# and/or RFC 5424 syslog over TCP; each is off while its address is empty.
REVIEWSVC_SIEM_HTTP_URL = env_str("REVIEWSVC_SIEM_HTTP_URL")
REVIEWSVC_SIEM_HTTP_BEARER = env_secret("REVIEWSVC_SIEM_HTTP_BEARER")
REVIEWSVC_SIEM_HTTP_HMAC_KEY = env_secret("REVIEWSVC_SIEM_HTTP_HMAC_KEY")
REVIEWSVC_SIEM_CA_FILE = env_str("REVIEWSVC_SIEM_CA_FILE")
REVIEWSVC_SIEM_SYSLOG_ADDRESS = env_str("REVIEWSVC_SIEM_SYSLOG_ADDRESS")
REVIEWSVC_SIEM_SYSLOG_TLS = env_bool("REVIEWSVC_SIEM_SYSLOG_TLS", False)
REVIEWSVC_SIEM_BATCH = env_int("REVIEWSVC_SIEM_BATCH", 500)
REVIEWSVC_SIEM_TIMEOUT_SECONDS = env_int("REVIEWSVC_SIEM_TIMEOUT_SECONDS", 10)
# Review workflow limits, per reviewer (Range requests count as audio requests): generous for
# real work, tight enough that scripted bulk listening stops within the hour.
REVIEWSVC_LEASES_PER_HOUR = env_int("REVIEWSVC_LEASES_PER_HOUR", 240)
REVIEWSVC_AUDIO_REQUESTS_PER_HOUR = env_int("REVIEWSVC_AUDIO_REQUESTS_PER_HOUR", 3600)
REVIEWSVC_TRANSCRIPT_MAX_CHARS = env_int("REVIEWSVC_TRANSCRIPT_MAX_CHARS", 10000)
# Alert rules: plays of one clip beyond N (bytes served in a day over the clip's size, however
# they were requested), access outside the facility's hours, N denials of one reviewer within the
# window. Each alert is an access event, a mail to ADMINS and, if set, a webhook.
REVIEWSVC_ALERT_REPEATED_PLAYS = env_int("REVIEWSVC_ALERT_REPEATED_PLAYS", 10)
REVIEWSVC_ALERT_OUTSIDE_HOURS = env_bool("REVIEWSVC_ALERT_OUTSIDE_HOURS", True)
REVIEWSVC_ALERT_DENIALS = env_int("REVIEWSVC_ALERT_DENIALS", 10)
REVIEWSVC_ALERT_DENIAL_WINDOW_SECONDS = env_int("REVIEWSVC_ALERT_DENIAL_WINDOW_SECONDS", 300)
REVIEWSVC_ALERT_AUTO_SUSPEND = env_bool("REVIEWSVC_ALERT_AUTO_SUSPEND", False)
# Refusals anyone can cause at will (rejected uploads, invalid API keys) are each an event up to
# this many per client address and kind in a window; past it, one audit.refusals_capped event.
REVIEWSVC_REFUSAL_EVENTS_PER_WINDOW = env_int("REVIEWSVC_REFUSAL_EVENTS_PER_WINDOW", 20)
REVIEWSVC_REFUSAL_WINDOW_SECONDS = env_int("REVIEWSVC_REFUSAL_WINDOW_SECONDS", 60)

# An export build claimed longer ago than this is taken to have died and is started again.
REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS = env_int("REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS", 600)
# A stored file no row refers to is removed once it is this old: longer than any ingest or export
# build takes between writing its file and committing its row.
REVIEWSVC_ORPHAN_BLOB_GRACE_SECONDS = env_int("REVIEWSVC_ORPHAN_BLOB_GRACE_SECONDS", 3600)
# Where encrypted blobs live: a folder (the default, under var/) or a storage class path such
# as "storages.backends.s3.S3Storage" configured by django-storages' own settings.
_storage = env_str("REVIEWSVC_STORAGE", str(VAR_DIR / "blobs"))
# S3 (django-storages' own names, from the environment). Blob names are generated by the server
# (clip and export UUIDs) and every blob is sealed before upload, so overwrite checks and ACLs add
# nothing; path-style addressing works with any S3-compatible store (SeaweedFS, MinIO, AWS).
_s3_options = {
    "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
    "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME", ""),
    "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
    "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
    "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
    "addressing_style": "path",
    "signature_version": "s3v4",
    "default_acl": None,
    "querystring_auth": False,
}
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "clips": (
        {"BACKEND": _storage, "OPTIONS": _s3_options if _storage == "storages.backends.s3.S3Storage" else {}}
        if "." in _storage and "/" not in _storage
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": _storage, "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
        }
    ),
}
# Uploads stay in memory up to the cap, so plaintext audio never lands in a temporary file.
FILE_UPLOAD_HANDLERS = ["apps.clips.uploads.BoundedMemoryUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = REVIEWSVC_MAX_UPLOAD_BYTES
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler redacts token-shaped text (invite tokens, API keys, session ids).
    "filters": {
        "redact_secrets": {"()": "reviewsvc.redact.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
        # Replaces Django's default mail_admins handler, which would mail secrets unredacted.
        "mail_admins": {
            "level": "ERROR",
            "class": "apps.common.mail_log.RedactingAdminEmailHandler",
            "filters": ["require_debug_false"],
        },
    },
    "loggers": {"django": {"handlers": ["stderr", "mail_admins"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["stderr"], "level": env_str("LOG_LEVEL", "INFO")},
}
