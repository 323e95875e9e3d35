"""Streaming sealed events to real local receivers: an HTTPS endpoint and a TCP syslog listener."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.server
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from apps.audit.forwarding import HTTPS, SYSLOG, siem_destinations, siem_forward
from apps.audit.models import AccessEvent, SiemCursor
from apps.audit.tasks import audit_siem_forward_task
from reviewsvc.audit import siem
from tests.apps.audit.factories import record_events

BEARER = "siem-bearer-token"
HMAC_KEY = "siem-hmac-key"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "siem.crt", folder / "siem.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Receiver:
    """A server on a fixed free port that can go down and come back up on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self._server: socketserver.BaseServer | None = None

    def _serve(self, server: socketserver.BaseServer) -> None:
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class HttpsReceiver(_Receiver):
    """A JSON-lines endpoint that checks the bearer token and the body's HMAC, like a SIEM would."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self.lines: list[dict] = []
        self.refusals: list[str] = []
        self.answer = 200
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert, key)

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(HMAC_KEY.encode(), body, hashlib.sha256).hexdigest()
                if self.headers.get("Authorization") != f"Bearer {BEARER}":
                    receiver.refusals.append("bearer")
                    self.send_response(401)
                elif self.headers.get(siem.SIGNATURE_HEADER) != expected:
                    receiver.refusals.append("signature")
                    self.send_response(403)
                elif receiver.answer != 200:
                    self.send_response(receiver.answer)
                else:
                    receiver.lines.extend(json.loads(line) for line in body.splitlines())
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._serve(server)


class SyslogReceiver(_Receiver):
    """A TCP syslog listener that splits RFC 6587 octet-counted frames."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[bytes] = []

    def start(self) -> None:
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                buffered = b""
                while chunk := self.request.recv(65536):
                    buffered += chunk
                    messages, buffered = siem.split_octet_counted(buffered)
                    receiver.messages.extend(messages)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._serve(socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler))

    def events(self) -> list[dict]:
        return [json.loads(message.split(b"\xef\xbb\xbf", 1)[1]) for message in self.messages]


@pytest.fixture
def https_receiver(settings, tmp_path) -> Iterator[HttpsReceiver]:
    cert, key = _self_signed(tmp_path)
    receiver = HttpsReceiver(cert, key)
    receiver.start()
    settings.REVIEWSVC_SIEM_HTTP_URL = f"https://localhost:{receiver.port}/ingest"
    settings.REVIEWSVC_SIEM_HTTP_BEARER = BEARER
    settings.REVIEWSVC_SIEM_HTTP_HMAC_KEY = HMAC_KEY
    settings.REVIEWSVC_SIEM_CA_FILE = str(cert)
    settings.REVIEWSVC_SIEM_BATCH = 4
    yield receiver
    receiver.stop()


@pytest.fixture
def syslog_receiver(settings) -> Iterator[SyslogReceiver]:
    receiver = SyslogReceiver()
    receiver.start()
    settings.REVIEWSVC_SIEM_SYSLOG_ADDRESS = f"127.0.0.1:{receiver.port}"
    settings.REVIEWSVC_SIEM_BATCH = 4
    yield receiver
    receiver.stop()


def _stored() -> list[tuple[int, str]]:
    return list(AccessEvent.objects.order_by("seq").values_list("seq", "hash"))


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = timezone.now() + dt.timedelta(seconds=timeout)
    while not predicate():
        assert timezone.now() < deadline, "the receiver did not get everything in time"
        threading.Event().wait(0.02)


@pytest.mark.django_db
def test_every_event_reaches_the_https_endpoint_in_order_with_its_seq_and_hash(https_receiver):
    record_events(10)
    result = siem_forward(destination=HTTPS)
    assert result.sent == 10
    assert [(line["seq"], line["hash"]) for line in https_receiver.lines] == _stored()
    assert SiemCursor.objects.get(destination=HTTPS).last_seq == _stored()[-1][0]
    assert https_receiver.refusals == []


@pytest.mark.django_db
def test_a_receiver_outage_loses_nothing_and_delivery_resumes_where_it_stopped(https_receiver):
    record_events(3)
    assert siem_forward(destination=HTTPS).sent == 3
    https_receiver.stop()
    record_events(5)
    failed = siem_forward(destination=HTTPS)
    assert failed.sent == 0
    assert failed.error == "URLError"
    cursor = SiemCursor.objects.get(destination=HTTPS)
    assert cursor.last_seq == _stored()[2][0]
    assert cursor.failures == 1
    # Backing off: the next beat does not try again at once.
    https_receiver.start()
    assert siem_forward(destination=HTTPS).sent == 0
    assert len(https_receiver.lines) == 3
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3)):
        assert siem_forward(destination=HTTPS).sent == 5
    assert [(line["seq"], line["hash"]) for line in https_receiver.lines] == _stored()
    assert SiemCursor.objects.get(destination=HTTPS).failures == 0


@pytest.mark.django_db
def test_an_error_answer_keeps_the_batch_and_backs_off_longer_each_time(https_receiver):
    record_events(2)
    https_receiver.answer = 503
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert siem_forward(destination=HTTPS).error == "HTTP 503"
        assert SiemCursor.objects.get(destination=HTTPS).retry_at == start + dt.timedelta(seconds=2)
    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        assert siem_forward(destination=HTTPS).error == "HTTP 503"
        assert SiemCursor.objects.get(destination=HTTPS).retry_at == start + dt.timedelta(seconds=6)
    assert https_receiver.lines == []
    assert SiemCursor.objects.get(destination=HTTPS).last_seq == 0


@pytest.mark.django_db
def test_the_endpoint_refuses_a_body_signed_with_another_key(settings, https_receiver):
    settings.REVIEWSVC_SIEM_HTTP_HMAC_KEY = "not-the-shared-key"
    record_events(1)
    assert siem_forward(destination=HTTPS).error == "HTTP 403"
    assert https_receiver.refusals == ["signature"]
    assert SiemCursor.objects.get(destination=HTTPS).last_seq == 0


@pytest.mark.django_db
def test_an_endpoint_whose_certificate_is_not_trusted_gets_nothing(settings, https_receiver):
    settings.REVIEWSVC_SIEM_CA_FILE = ""
    record_events(1)
    assert siem_forward(destination=HTTPS).error == "URLError"
    assert https_receiver.lines == []


def test_a_plain_http_endpoint_is_refused_as_configuration(settings):
    settings.REVIEWSVC_SIEM_HTTP_URL = "http://siem.example/ingest"
    with pytest.raises(ImproperlyConfigured, match="https"):
        siem_destinations()


@pytest.mark.django_db
def test_every_event_reaches_the_syslog_listener_in_order_across_an_outage(syslog_receiver):
    record_events(6)
    assert siem_forward(destination=SYSLOG).sent == 6
    _wait_for(lambda: len(syslog_receiver.messages) == 6)
    syslog_receiver.stop()
    record_events(3)
    assert siem_forward(destination=SYSLOG).error == "ConnectionRefusedError"
    syslog_receiver.start()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3)):
        assert siem_forward(destination=SYSLOG).sent == 3
    _wait_for(lambda: len(syslog_receiver.messages) == 9)
    assert [(event["seq"], event["hash"]) for event in syslog_receiver.events()] == _stored()
    assert all(message.startswith((b"<110>1 ", b"<109>1 ")) for message in syslog_receiver.messages)


@pytest.mark.django_db
def test_the_beat_task_and_the_command_forward_to_every_destination(https_receiver, syslog_receiver, capsys):
    record_events(2)
    assert audit_siem_forward_task() == 4
    record_events(1)
    call_command("siem_forward")
    out = capsys.readouterr().out
    assert "https: sent 1" in out
    assert "syslog: sent 1" in out
    _wait_for(lambda: len(syslog_receiver.messages) == 3)
    assert len(https_receiver.lines) == 3


@pytest.mark.django_db
def test_with_no_destination_the_command_says_so(capsys):
    call_command("siem_forward")
    assert "no SIEM destination configured" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "refusal", "error"), [("BEARER", "bearer", "HTTP 401"), ("HMAC_KEY", "signature", "HTTP 403")]
)
def test_an_endpoint_that_requires_the_missing_credential_refuses_and_the_cursor_stays(
    settings, https_receiver, setting, refusal, error
):
    setattr(settings, f"REVIEWSVC_SIEM_HTTP_{setting}", "")
    record_events(2)
    result = siem_forward(destination=HTTPS)
    assert (result.sent, result.error) == (0, error)
    assert https_receiver.refusals == [refusal]
    assert SiemCursor.objects.get(destination=HTTPS).last_seq == 0


@pytest.mark.django_db
def test_one_call_sends_at_most_max_batches_and_the_next_carries_on(settings, https_receiver):
    settings.REVIEWSVC_SIEM_BATCH = 2
    record_events(5)
    assert siem_forward(destination=HTTPS, max_batches=2).sent == 4
    assert SiemCursor.objects.get(destination=HTTPS).last_seq == 4
    assert siem_forward(destination=HTTPS).sent == 1
    assert [line["seq"] for line in https_receiver.lines] == [1, 2, 3, 4, 5]
