from django.test import RequestFactory

from apps.common.net import client_address


def request_from(remote: str, **headers):
    return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)


def test_spoofed_headers_change_nothing_without_trusted_proxies(settings):
    settings.REVIEWSVC_TRUSTED_PROXIES = []
    request = request_from(
        "203.0.113.9",
        HTTP_X_FORWARDED_FOR="10.1.2.3",
        HTTP_FORWARDED="for=10.1.2.3",
        HTTP_X_REAL_IP="10.1.2.3",
    )
    assert str(client_address(request)) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_proxy_appended_hop_counts(settings):
    settings.REVIEWSVC_TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = request_from("10.0.0.2", HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.7")
    assert str(client_address(request)) == "198.51.100.7"


def test_forwarded_and_x_real_ip_are_never_read_even_behind_a_proxy(settings):
    settings.REVIEWSVC_TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = request_from("10.0.0.2", HTTP_FORWARDED="for=10.1.2.3", HTTP_X_REAL_IP="10.1.2.3")
    assert str(client_address(request)) == "10.0.0.2"


def test_a_mapped_socket_address_is_normalised(settings):
    settings.REVIEWSVC_TRUSTED_PROXIES = []
    assert str(client_address(request_from("::ffff:10.1.2.3"))) == "10.1.2.3"
