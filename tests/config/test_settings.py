"""Production settings: refuse to start without their secrets; pass `check --deploy` cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x9!" * 20 + "production-secret-for-the-check-only",
    "DATABASE_URL": "postgres://reviewsvc@db.internal:5432/reviewsvc",
    "ALLOWED_HOSTS": "review.example.com",
    "REVIEWSVC_KEY_FILE": "/run/secrets/reviewsvc-master-keys.json",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWSVC_", "DJANGO_", "SECRET_KEY"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("ALLOWED_HOSTS", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "REVIEWSVC_KEY_FILE"])
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_reads_the_secret_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION_ENV["SECRET_KEY"])
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"} | {"SECRET_KEY_FILE": str(secret_file)}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


def test_production_cookie_and_transport_settings():
    from django.conf import Settings

    saved = {k: os.environ.get(k) for k in PRODUCTION_ENV}
    os.environ.update(PRODUCTION_ENV)
    try:
        production = Settings("config.settings.production")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert production.SESSION_COOKIE_SECURE
    assert production.CSRF_COOKIE_SECURE
    assert production.SESSION_COOKIE_HTTPONLY
    assert (production.SESSION_COOKIE_SAMESITE, production.CSRF_COOKIE_SAMESITE) == ("Strict", "Strict")
    assert (production.SECURE_HSTS_SECONDS, production.SECURE_HSTS_INCLUDE_SUBDOMAINS) == (63072000, True)
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "rest_framework.permissions.AllowAny" not in production.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]
    assert production.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == ["rest_framework.renderers.JSONRenderer"]
    directives = production.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert production.CELERY_ACCEPT_CONTENT == ["json"]


def test_the_local_secret_key_is_made_once_with_owner_only_permissions(tmp_path):
    env = {"REVIEWSVC_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_manage("shell", "-c", code, env=env)
    second = run_manage("shell", "-c", code, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    # The last line: Django's shell may print a line about its automatic imports first.
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) == 67  # secrets.token_urlsafe(50): 50 random bytes are 67 base64url characters
    assert (tmp_path / "secret_key").read_text().strip() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_clips_go_to_the_s3_bucket_django_storages_names_in_the_environment(tmp_path):
    shown = run_manage(
        "shell",
        "-c",
        "from django.core.files.storage import storages; s = storages['clips']; "
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.access_key, s.region_name, s.addressing_style)",
        env={
            "REVIEWSVC_VAR_DIR": str(tmp_path),
            "REVIEWSVC_STORAGE": "storages.backends.s3.S3Storage",
            "AWS_S3_ENDPOINT_URL": "http://objects.internal:8333",
            "AWS_STORAGE_BUCKET_NAME": "reviewsvc-clips",
            "AWS_ACCESS_KEY_ID": "reviewsvc",
            "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
            "AWS_S3_REGION_NAME": "eu-central-1",
        },
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1].split() == [
        "S3Storage",
        "reviewsvc-clips",
        "http://objects.internal:8333",
        "reviewsvc",
        "eu-central-1",
        "path",
    ]


PKCS11_ENV = {
    **{k: v for k, v in PRODUCTION_ENV.items() if k != "REVIEWSVC_KEY_FILE"},
    "REVIEWSVC_KEY_PROVIDER": "pkcs11",
    "REVIEWSVC_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
    "REVIEWSVC_PKCS11_TOKEN": "reviewsvc",
    "REVIEWSVC_PKCS11_PIN": "pin-for-the-check-only",
}


@pytest.mark.parametrize("missing", ["REVIEWSVC_PKCS11_MODULE", "REVIEWSVC_PKCS11_TOKEN", "REVIEWSVC_PKCS11_PIN"])
def test_production_with_the_pkcs11_provider_refuses_to_start_without(missing):
    result = run_manage("check", env={k: v for k, v in PKCS11_ENV.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr
    assert "pin-for-the-check-only" not in result.stderr


def test_production_reads_the_pkcs11_pin_from_a_file_and_needs_no_key_file(tmp_path):
    pin_file = tmp_path / "pin"
    pin_file.write_text("pin-from-a-file\n")
    env = {k: v for k, v in PKCS11_ENV.items() if k != "REVIEWSVC_PKCS11_PIN"}
    check = "from django.conf import settings as s; print(s.REVIEWSVC_PKCS11_PIN, s.REVIEWSVC_PKCS11_CREATE_KEYS)"
    result = run_manage("shell", "-c", check, env=env | {"REVIEWSVC_PKCS11_PIN_FILE": str(pin_file)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "pin-from-a-file False"


def test_production_refuses_an_unknown_key_provider():
    result = run_manage("check", env=PRODUCTION_ENV | {"REVIEWSVC_KEY_PROVIDER": "vault"})
    assert result.returncode != 0
    assert "REVIEWSVC_KEY_PROVIDER must be local or pkcs11" in result.stderr
