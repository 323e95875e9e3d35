"""The workstation certificate a trusted reverse proxy forwards, read without the web framework.

The proxy terminates TLS, verifies the client certificate (``ssl_verify_client on``) and passes
it on in the ``Client-Cert`` header, overwriting whatever the client sent. Two encodings of one
certificate are accepted, nothing else:

- RFC 9440: a structured-field byte sequence, ``:`` base64 of the DER ``:``;
- what Debian's nginx (1.22, no RFC 9440 variable) can send: ``$ssl_client_escaped_cert``, the
  PEM percent-encoded (RFC 3986), one ``CERTIFICATE`` block.

Anything else (a chain, two headers joined by a comma, garbage, a megabyte) is no certificate:
the request then simply has none. The caller reads the header only when the socket peer is a
trusted proxy; the fingerprint is SHA-256 over the DER, compared with the enrolled ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import unquote_to_bytes

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

# A workstation certificate is well under this; the cap keeps a hostile header from costing work.
MAX_HEADER = 16 * 1024
_SF_BINARY = re.compile(r":([A-Za-z0-9+/]+={0,2}):", re.ASCII)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\r?\n?", re.ASCII)
_ESCAPED_PEM_START = "-----BEGIN%20CERTIFICATE-----"


def certificate_der(header: str | None) -> bytes | None:
    """The DER of the one certificate in a ``Client-Cert`` value, or None."""
    if not header or len(header) > MAX_HEADER:
        return None
    value = header.strip()
    match = _SF_BINARY.fullmatch(value)
    if match is not None:
        try:
            der = base64.b64decode(match.group(1), validate=True)
        except binascii.Error:
            return None
    elif value.startswith(_ESCAPED_PEM_START):
        pem = _PEM.fullmatch(unquote_to_bytes(value))
        if pem is None:
            return None
        try:
            der = base64.b64decode(re.sub(rb"\s", b"", pem.group(1)), validate=True)
        except binascii.Error:
            return None
    else:
        return None
    try:
        x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return der


def fingerprint(der: bytes) -> str:
    """SHA-256 over the certificate's DER, lower-case hex: what an enrolment stores."""
    return hashlib.sha256(der).hexdigest()


def certificate_fingerprint(header: str | None) -> str | None:
    der = certificate_der(header)
    return fingerprint(der) if der is not None else None


def pem_fingerprint(pem: bytes) -> tuple[str, str]:
    """Fingerprint and subject of a PEM certificate file (enrolment); raises ValueError if it is none."""
    certificate = x509.load_pem_x509_certificate(pem)
    return fingerprint(certificate.public_bytes(Encoding.DER)), certificate.subject.rfc4514_string()
