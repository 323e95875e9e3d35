"""The client address of a request: one function that every check and every event uses."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from reviewsvc.net import IPAddress, IPNetwork, parse_networks, resolve_client_address


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
