"""Production: refuses to start without its secrets and endpoints; TLS-only cookies, HSTS."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_list, env_secret, env_str, require
from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK, REVIEWSVC_KEY_PROVIDER

SECRET_KEY = require("SECRET_KEY", env_secret("SECRET_KEY"))
require("DATABASE_URL", env_str("DATABASE_URL"))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
require("ALLOWED_HOSTS", ",".join(ALLOWED_HOSTS))
if REVIEWSVC_KEY_PROVIDER == "local":
    # The master keys must live at a path the operator chose (a mounted secret), never a default.
    REVIEWSVC_KEY_FILE = require("REVIEWSVC_KEY_FILE", env_str("REVIEWSVC_KEY_FILE"))
    REVIEWSVC_KEY_FILE_CREATE = False
elif REVIEWSVC_KEY_PROVIDER == "pkcs11":
    require("REVIEWSVC_PKCS11_MODULE", env_str("REVIEWSVC_PKCS11_MODULE"))
    require("REVIEWSVC_PKCS11_TOKEN", env_str("REVIEWSVC_PKCS11_TOKEN"))
    require("REVIEWSVC_PKCS11_PIN (or REVIEWSVC_PKCS11_PIN_FILE)", env_secret("REVIEWSVC_PKCS11_PIN"))
    REVIEWSVC_PKCS11_CREATE_KEYS = False
else:
    raise ImproperlyConfigured(f"REVIEWSVC_KEY_PROVIDER must be local or pkcs11, not {REVIEWSVC_KEY_PROVIDER!r}")

DEBUG = False
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]}

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"
SECURE_SSL_REDIRECT = True
# The container's own health checks speak plain HTTP to the internal port; these two answer
# nothing but a status, so they are not sent to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = 63072000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
if env_bool("REVIEWSVC_PROXY_SETS_X_FORWARDED_PROTO", False):
    # Only safe when the proxy overwrites the header the client sent.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
