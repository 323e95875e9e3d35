"""Streaming the sealed access log to a SIEM, in order, at least once, resuming after an outage.

Each destination (``https``: JSON lines POSTed to ``REVIEWSVC_SIEM_HTTP_URL``; ``syslog``: RFC
5424 over TCP to ``REVIEWSVC_SIEM_SYSLOG_ADDRESS``) has a ``SiemCursor`` row holding the last
sequence it accepted. A batch is sent first and the cursor advanced afterwards, and only if it
still stands where the batch began, so a crash between the two re-sends that batch (the
receiver de-duplicates on ``seq`` and ``hash``) and never skips one. While a receiver is down
the cursor stays put and attempts back off exponentially, up to ``MAX_BACKOFF_SECONDS``.

No row is locked while a batch is on the wire: on SQLite a held write lock would stop every
other writer, and two forwarders racing only send a batch twice, which at-least-once allows.
"""

from __future__ import annotations

import logging
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils import timezone

from apps.audit.models import SiemCursor
from apps.audit.selectors import events_sealed_after, export_fields
from reviewsvc.audit import siem

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300
HTTPS = "https"
SYSLOG = "syslog"


class DeliveryFailed(Exception):
    """The receiver did not accept the batch; the cursor stays where it was."""


@dataclass(frozen=True)
class ForwardResult:
    destination: str
    sent: int
    last_seq: int
    error: str = ""


def siem_destinations() -> list[str]:
    """The destinations configured in settings, in a fixed order."""
    found = []
    if settings.REVIEWSVC_SIEM_HTTP_URL:
        if urlsplit(settings.REVIEWSVC_SIEM_HTTP_URL).scheme != "https":
            raise ImproperlyConfigured("REVIEWSVC_SIEM_HTTP_URL must be an https:// URL")
        found.append(HTTPS)
    if settings.REVIEWSVC_SIEM_SYSLOG_ADDRESS:
        found.append(SYSLOG)
    return found


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.REVIEWSVC_SIEM_CA_FILE or None)


def _send_https(fields: list[dict]) -> None:
    body = siem.json_lines(fields)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be https
        settings.REVIEWSVC_SIEM_HTTP_URL,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-ndjson"},
    )
    if settings.REVIEWSVC_SIEM_HTTP_BEARER:
        request.add_header("Authorization", f"Bearer {settings.REVIEWSVC_SIEM_HTTP_BEARER}")
    if settings.REVIEWSVC_SIEM_HTTP_HMAC_KEY:
        request.add_header(
            siem.SIGNATURE_HEADER, siem.body_signature(settings.REVIEWSVC_SIEM_HTTP_HMAC_KEY.encode(), body)
        )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.REVIEWSVC_SIEM_TIMEOUT_SECONDS, context=_tls_context()
        ) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code}") from None
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(type(exc).__name__) from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}")


def _send_syslog(fields: list[dict]) -> None:
    host, _, port = settings.REVIEWSVC_SIEM_SYSLOG_ADDRESS.rpartition(":")
    frames = siem.syslog_frames(fields, hostname=socket.gethostname())
    try:
        with socket.create_connection(
            (host.strip("[]"), int(port)), timeout=settings.REVIEWSVC_SIEM_TIMEOUT_SECONDS
        ) as raw:
            if settings.REVIEWSVC_SIEM_SYSLOG_TLS:
                with _tls_context().wrap_socket(raw, server_hostname=host.strip("[]")) as tls:
                    tls.sendall(frames)
            else:
                raw.sendall(frames)
    except (OSError, ValueError) as exc:
        raise DeliveryFailed(type(exc).__name__) from None


_SENDERS = {HTTPS: _send_https, SYSLOG: _send_syslog}


def _next_batch(seq: int, *, limit: int) -> list[dict]:
    """The next sealed events after ``seq``, every hashed field and the MAC, in sequence order."""
    return [export_fields(event) for event in events_sealed_after(seq=seq, limit=limit)]


def siem_forward(*, destination: str, max_batches: int = 20) -> ForwardResult:
    """Send what ``destination`` has not accepted yet, batch by batch, until caught up.

    Returns how many events were accepted; a failure leaves the cursor where the receiver
    last accepted and schedules the next attempt.
    """
    send = _SENDERS[destination]
    cursor, _ = SiemCursor.objects.get_or_create(destination=destination)
    now = timezone.now()
    if cursor.retry_at is not None and cursor.retry_at > now:
        return ForwardResult(destination, 0, cursor.last_seq, cursor.last_error)
    sent = 0
    last_seq = cursor.last_seq
    for _ in range(max_batches):
        batch = _next_batch(last_seq, limit=settings.REVIEWSVC_SIEM_BATCH)
        if not batch:
            break
        try:
            send(batch)
        except DeliveryFailed as exc:
            _delivery_failed(cursor, error=str(exc))
            return ForwardResult(destination, sent, last_seq, str(exc))
        moved = SiemCursor.objects.filter(pk=cursor.pk, last_seq=last_seq).update(
            last_seq=batch[-1]["seq"], failures=0, retry_at=None, last_error=""
        )
        if not moved:
            # Another forwarder advanced it meanwhile; it carries on from there.
            break
        sent += len(batch)
        last_seq = batch[-1]["seq"]
    return ForwardResult(destination, sent, last_seq)


def _delivery_failed(cursor: SiemCursor, *, error: str) -> None:
    failures = cursor.failures + 1
    delay = min(2**failures, MAX_BACKOFF_SECONDS)
    SiemCursor.objects.filter(pk=cursor.pk).update(
        failures=F("failures") + 1,
        retry_at=timezone.now() + timedelta(seconds=delay),
        last_error=error[:200],
    )
    logger.warning(
        "SIEM destination %s did not accept events after #%s: %s", cursor.destination, cursor.last_seq, error
    )


def siem_forward_all() -> list[ForwardResult]:
    return [siem_forward(destination=destination) for destination in siem_destinations()]
