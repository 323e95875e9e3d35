"""The Client-Cert header: RFC 9440's byte sequence or nginx's escaped PEM, one certificate, nothing else."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

import pytest

from reviewsvc.clientcert import MAX_HEADER, certificate_fingerprint, pem_fingerprint
from tests.certs import CertificateAuthority

CA = CertificateAuthority()
CERT = CA.issue("ws-01")
OTHER = CA.issue("ws-02")
FINGERPRINT = hashlib.sha256(CERT.der).hexdigest()


def nginx_escaped(pem: bytes) -> str:
    # What $ssl_client_escaped_cert gives: the PEM with every reserved byte percent-encoded.
    return quote(pem.decode(), safe="")


def test_rfc_9440_byte_sequence_gives_the_der_fingerprint():
    assert certificate_fingerprint(":" + base64.b64encode(CERT.der).decode() + ":") == FINGERPRINT


def test_nginx_escaped_pem_gives_the_same_fingerprint():
    assert certificate_fingerprint(nginx_escaped(CERT.pem)) == FINGERPRINT


def test_an_enrolment_file_gives_the_same_fingerprint_and_its_subject():
    assert pem_fingerprint(CERT.pem) == (FINGERPRINT, "CN=ws-01")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        ":" + base64.b64encode(b"not a certificate").decode() + ":",
        base64.b64encode(CERT.der).decode(),  # no colons: not a byte sequence
        ":" + base64.b64encode(CERT.der).decode() + ":, :" + base64.b64encode(OTHER.der).decode() + ":",
        ":" + base64.b64encode(CERT.der).decode()[:-4] + "!!!!:",
        nginx_escaped(CERT.pem + OTHER.pem),  # a chain is no workstation certificate
        nginx_escaped(CERT.pem).replace("CERTIFICATE", "PRIVATE%20KEY", 1),
        CERT.pem.decode(),  # raw PEM with newlines: not what the proxy sends
        ":" + "A" * (MAX_HEADER + 4) + ":",
        "-----BEGIN%20CERTIFICATE-----%0A%%%%-----END%20CERTIFICATE-----%0A",
    ],
)
def test_anything_else_is_no_certificate(value):
    assert certificate_fingerprint(value) is None


def test_a_pem_file_without_a_certificate_is_refused():
    with pytest.raises(ValueError, match="PEM|certificate|Unable"):
        pem_fingerprint(b"hello")
