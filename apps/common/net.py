"""The client address of a request: one function that every check and every event uses."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from reviewsvc.clientcert import certificate_fingerprint
from reviewsvc.net import (
    IPAddress,
    IPNetwork,
    address_in_networks,
    parse_address,
    parse_networks,
    resolve_client_address,
)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> list[IPNetwork]:
    return parse_networks(values)


def trusted_proxies() -> list[IPNetwork]:
    return _networks(tuple(settings.REVIEWSVC_TRUSTED_PROXIES))


def admin_networks() -> list[IPNetwork]:
    return _networks(tuple(settings.REVIEWSVC_ADMIN_NETWORKS))


def client_address(request: HttpRequest) -> IPAddress | None:
    """The socket peer, or the right-most untrusted ``X-Forwarded-For`` hop behind a trusted proxy.

    ``Forwarded`` and ``X-Real-IP`` are never read: one header, one rule. Repeated
    ``X-Forwarded-For`` headers arrive joined by commas, which the rule reads the same way.
    """
    cached = getattr(request, "_reviewsvc_client_address", False)
    if cached is not False:
        return cached
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    address = resolve_client_address(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=[forwarded] if forwarded else [],
        trusted_proxies=trusted_proxies(),
    )
    request._reviewsvc_client_address = address  # type: ignore[attr-defined]
    return address


CLIENT_CERT_META = "HTTP_CLIENT_CERT"


def client_certificate_fingerprint(request: HttpRequest) -> str | None:
    """SHA-256 of the workstation certificate in the RFC 9440 ``Client-Cert`` header, or None.

    Read only when the socket peer is a trusted proxy, which overwrites the client's header (as
    for ``X-Forwarded-For``); from anyone else the header is ignored, so a client-sent
    certificate never counts.
    """
    cached = getattr(request, "_reviewsvc_client_cert", False)
    if cached is not False:
        return cached
    fingerprint = None
    peer = parse_address(request.META.get("REMOTE_ADDR", ""))
    if address_in_networks(peer, trusted_proxies()):
        fingerprint = certificate_fingerprint(request.META.get(CLIENT_CERT_META))
    request._reviewsvc_client_cert = fingerprint  # type: ignore[attr-defined]
    return fingerprint
