"""Liveness and readiness. Readiness names what is down, never how (no connection strings)."""

from __future__ import annotations

import logging
import os

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.common.keys import key_provider
from apps.common.outbox import broker_folders

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    cache.set("readyz", "1", 5)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not return what was stored")


def _broker() -> None:
    folders = broker_folders()
    if folders:
        # The filesystem transport "connects" to anything: what matters is that its folders take files.
        if not all(folder.is_dir() and os.access(folder, os.W_OK) for folder in folders):
            raise RuntimeError("the embedded broker's folders are missing or read-only")
        return
    # The project's Celery app (config/celery.py) is the current one once Django has started.
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _keys() -> None:
    key_provider().check()


def readiness_checks() -> dict:
    checks = {"database": _database, "keys": _keys, "broker": _broker}
    if settings.REDIS_URL:
        checks |= {"cache": _cache}
    return checks


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    down = []
    for name, check in readiness_checks().items():
        try:
            check()
        except Exception:
            logger.exception("readiness check %s failed", name)
            down.append(name)
    if down:
        return JsonResponse({"status": "unavailable", "down": down}, status=503)
    return JsonResponse({"status": "ok"})
