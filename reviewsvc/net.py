"""Client addresses and network membership, without the web framework.

The address a decision uses is the socket's peer unless that peer is a reverse proxy we
trust; only then do we read ``X-Forwarded-For``, from the right, skipping our own proxies.
Left-hand entries are whatever the client chose to send, so they never count.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(value: str) -> IPAddress | None:
    """Parse one address; IPv4-mapped IPv6 (``::ffff:10.0.0.1``) becomes its IPv4 address."""
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443" from some proxies
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """Parse CIDRs strictly (host bits must be zero); raises ValueError on the first bad one."""
    networks: list[IPNetwork] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        network = ipaddress.ip_network(text, strict=True)
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
            mapped = network.network_address.ipv4_mapped
            network = ipaddress.ip_network(f"{mapped}/{max(network.prefixlen - 96, 0)}")
        networks.append(network)
    return networks


def address_in_networks(address: IPAddress | None, networks: Sequence[IPNetwork]) -> bool:
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in networks)


def resolve_client_address(
    *,
    remote_addr: str,
    forwarded_for: Sequence[str],
    trusted_proxies: Sequence[IPNetwork],
) -> IPAddress | None:
    """The address of the client as far as we can trust it.

    ``forwarded_for`` holds every ``X-Forwarded-For`` header value in arrival order. With no
    trusted proxy configured, or a peer that is not one, the headers are ignored entirely.
    """
    peer = parse_address(remote_addr)
    if peer is None or not address_in_networks(peer, trusted_proxies):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # Garbage in the chain: stop at the last address we could still vouch for.
            return peer
        if not address_in_networks(address, trusted_proxies):
            return address
        peer = address
    return peer


# Outsiders' sign-in attempts are counted per source network, not per address: one host, or one
# customer's whole allocation, is one counter however many addresses it rotates through. A /24
# is the smallest IPv4 block routed between networks; a /56 is what ISPs commonly assign one
# IPv6 customer (a /64 is only one of their subnets, of which a customer holds 256).
SOURCE_PREFIX_V4 = 24
SOURCE_PREFIX_V6 = 56


def source_network(address: IPAddress | None) -> str:
    """The network an address counts under (``203.0.113.0/24``, ``2001:db8:0:100::/56``)."""
    if address is None:
        return "unknown"
    prefix = SOURCE_PREFIX_V4 if address.version == 4 else SOURCE_PREFIX_V6
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
