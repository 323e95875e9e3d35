"""The shipped server (config/server.py, granian): its options, a request stuck past its deadline
losing its worker to a new one, HTTP/1.1 only, and stopping under any signal timing."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest

from config.server import SignalSafeServer, granian_arguments, main
from tests.conftest import requires_postgres
from tests.softhsm import server_keys
from tests.support import answers, free_port, shipped_server

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_runs_one_request_at_a_time_per_worker_speaks_http1_only_and_replaces_dead_workers():
    # The deadline is the worker process's alarm clock: one request at a time in each process.
    arguments = granian_arguments(host="127.0.0.1", port=1, workers=2)
    assert arguments[arguments.index("--blocking-threads") + 1] == "1"
    assert "--respawn-failed-workers" in arguments
    assert arguments[arguments.index("--http") + 1] == "1"  # no HTTP/2 parser exposed
    assert arguments[-1] == "config.wsgi:served_application"


def test_a_deadline_under_one_second_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--timeout", "0"])
    assert exit_info.value.code == 2
    assert "--timeout must be at least 1 second" in capsys.readouterr().err


def test_the_stop_signal_handler_takes_no_lock_so_a_second_signal_cannot_deadlock_it():
    server = SignalSafeServer("config.wsgi:served_application", interface="wsgi")
    server.pid = os.getpid()
    # A signal handled while the main thread holds the wake-up event's lock: granian's own
    # handler would wait for that lock for good.
    with server.main_loop_interrupt._cond:
        handler = threading.Thread(target=server.signal_handler_interrupt, args=(signal.SIGTERM, None))
        handler.start()
        handler.join(timeout=5)
    assert not handler.is_alive(), "the handler waited for a lock"
    assert server.interrupt_signal


def test_the_main_loop_sees_the_stop_flag_without_the_event_being_set():
    server = SignalSafeServer("config.wsgi:served_application", interface="wsgi")
    threading.Timer(0.2, setattr, (server, "interrupt_signal", True)).start()
    started = time.monotonic()
    assert server.main_loop_interrupt.wait()
    assert time.monotonic() - started < 2
    assert not server.main_loop_interrupt.is_set()  # woken by the flag alone


def test_a_worker_stopped_before_its_own_handlers_are_set_ends_by_the_signal():
    server = SignalSafeServer("config.wsgi:served_application", interface="wsgi")
    server.pid = os.getpid()  # as startup() records it, before it forks the workers
    child = os.fork()
    if child == 0:  # the worker, still carrying the server's handler
        server.signal_handler_interrupt(signal.SIGTERM, None)
        os._exit(0)  # reached only if the stop was swallowed
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGTERM
    server.signal_handler_interrupt(signal.SIGTERM, None)  # the server itself only flags it
    assert server.interrupt_signal


def test_ctrl_c_and_then_a_sigterm_stop_the_server(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REVIEWSVC_KEY_FILE": str(tmp_path / "keys.json"),
        "REVIEWSVC_VAR_DIR": str(tmp_path),
    }
    with shipped_server(env, port=free_port(), workers=2) as server:
        server.send_signal(signal.SIGINT)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0


def get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def wait_until_answering(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not answers(port):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing answered on port {port} within {seconds} s")
        time.sleep(0.2)


@pytest.fixture
def served(request, transactional_db, tmp_path):
    """config/server.py with one worker and a 2 s deadline, on the tests' PostgreSQL database."""
    from django.db import connection

    database = connection.settings_dict
    dsn = f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    port = free_port()
    with server_keys(request, tmp_path / "keys.json") as keys:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": dsn.replace("postgresql://", "postgres://"),
            "REVIEWSVC_VAR_DIR": str(tmp_path),
            **keys,
        }
        errors = tmp_path / "server.stderr"
        with errors.open("wb") as stderr, shipped_server(env, port=port, timeout=2, stderr=stderr):
            yield port, dsn, errors


@requires_postgres
@pytest.mark.server
def test_a_request_stuck_past_its_deadline_loses_its_worker_and_the_next_request_is_answered(served):
    port, dsn, errors = served
    cookie = {"Cookie": f"sessionid={secrets.token_hex(16)}"}
    assert get(port, "/review/", cookie) in {200, 302}  # in time: the session read is not stuck
    # A hung dependency: the session table locked by another connection, with no lock timeout.
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE accounts_accountsession IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            get(port, "/review/", cookie)
        waited = time.monotonic() - started
        holder.rollback()
    assert 2 <= waited < 10
    wait_until_answering(port, 15)
    assert get(port, "/review/", cookie) in {200, 302}
    log = errors.read_text()
    assert "Unexpected exit from worker-1" in log
    assert "Respawning worker-1" in log


@requires_postgres
@pytest.mark.server
def test_an_http2_connection_preface_gets_no_http2_answer(served):
    port, _, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        answer = raw.recv(64)
    # An HTTP/2 server answers the preface with a SETTINGS frame (type 4 in byte 3).
    assert not (len(answer) >= 4 and answer[3] == 4), answer
    assert get(port, "/healthz") == 200
