import ipaddress

import pytest

from reviewsvc.net import address_in_networks, parse_address, parse_networks, resolve_client_address, source_network

PROXIES = parse_networks(["10.0.0.0/24"])


def test_an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address():
    assert parse_address("::ffff:192.0.2.7") == ipaddress.ip_address("192.0.2.7")
    assert address_in_networks(parse_address("::ffff:192.0.2.7"), parse_networks(["192.0.2.0/24"]))


def test_mapped_networks_are_normalised_too():
    assert parse_networks(["::ffff:192.0.2.0/120"]) == [ipaddress.ip_network("192.0.2.0/24")]


def test_bracketed_addresses_and_garbage():
    assert parse_address("[2001:db8::1]:443") == ipaddress.ip_address("2001:db8::1")
    assert parse_address("not-an-address") is None
    assert not address_in_networks(None, PROXIES)


def test_networks_with_host_bits_are_refused():
    with pytest.raises(ValueError, match="host bits"):
        parse_networks(["10.0.0.1/24"])


def test_forwarded_for_is_ignored_without_a_trusted_proxy():
    assert resolve_client_address(
        remote_addr="203.0.113.9", forwarded_for=["10.1.2.3"], trusted_proxies=[]
    ) == ipaddress.ip_address("203.0.113.9")


def test_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy():
    assert resolve_client_address(
        remote_addr="203.0.113.9", forwarded_for=["10.1.2.3"], trusted_proxies=PROXIES
    ) == ipaddress.ip_address("203.0.113.9")


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client():
    # The client prepended a facility address; only the hop our proxy appended counts.
    assert resolve_client_address(
        remote_addr="10.0.0.5", forwarded_for=["10.1.2.3, 198.51.100.4, 10.0.0.6"], trusted_proxies=PROXIES
    ) == ipaddress.ip_address("198.51.100.4")


def test_two_forwarded_headers_read_as_one_chain():
    assert resolve_client_address(
        remote_addr="10.0.0.5", forwarded_for=["10.1.2.3", "198.51.100.4"], trusted_proxies=PROXIES
    ) == ipaddress.ip_address("198.51.100.4")


def test_garbage_in_the_chain_stops_at_the_last_trusted_hop():
    assert resolve_client_address(
        remote_addr="10.0.0.5", forwarded_for=["10.1.2.3, junk"], trusted_proxies=PROXIES
    ) == ipaddress.ip_address("10.0.0.5")


def test_a_chain_of_only_trusted_proxies_yields_the_last_of_them():
    assert resolve_client_address(
        remote_addr="10.0.0.5", forwarded_for=["10.0.0.7"], trusted_proxies=PROXIES
    ) == ipaddress.ip_address("10.0.0.7")


def test_an_unparseable_peer_is_no_address():
    assert resolve_client_address(remote_addr="", forwarded_for=[], trusted_proxies=PROXIES) is None


def test_blank_entries_in_a_network_list_are_skipped():
    assert parse_networks(["", "  ", " 10.1.0.0/16 "]) == [ipaddress.ip_network("10.1.0.0/16")]


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.9", "203.0.113.0/24"),
        ("203.0.113.250", "203.0.113.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),
        ("2001:db8:0:1ff:aaaa::1", "2001:db8:0:100::/56"),
        ("2001:db8:0:1ab::9", "2001:db8:0:100::/56"),
    ],
)
def test_outsiders_are_counted_per_ipv4_slash_24_and_ipv6_slash_56(address, network):
    assert source_network(parse_address(address)) == network


def test_a_missing_address_counts_under_one_network():
    assert source_network(None) == "unknown"
