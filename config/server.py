"""Serves the service under granian, the one way every deployment starts it (the Dockerfile,
bin/run-embedded, and the proxy, fault and cluster suites):

    python -m config.server --host 127.0.0.1 --port 8000 --workers 2 [--timeout 30]

This process runs granian's own command line, so its pid is the server's and its children are
the workers. What the options guarantee:

- WSGI with ``--blocking-threads 1``: each worker runs one request at a time in Python, which
  the per-request deadline needs (``reviewsvc.deadline``; ``--timeout`` seconds, default 30).
- HTTP/1.1 only (``--http 1``): the proxy in front speaks nothing else to it, so HTTP/2's
  parser and its stream floods are not exposed.
- ``--respawn-failed-workers``: a worker that dies, killed by its deadline or by anything else,
  is replaced within about a second.
- Logs (``config/granian-logging.json``): the access log on standard output, granian's own on
  standard error, each handler through the filter that redacts token-shaped text. The access
  line names client address, time, method, path (never the query string), protocol, status and
  duration: no referrer, no user agent.
- granian reads no X-Forwarded-* header: ``REMOTE_ADDR`` is the peer, and the app decides whom
  to believe about the client address (REVIEWSVC_TRUSTED_PROXIES).
- Stopping is safe against a second signal (``SignalSafeServer``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import granian.cli
from granian.server import MPServer

ROOT = Path(__file__).resolve().parent.parent
ACCESS_LOG_FORMAT = '%(addr)s [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'


def granian_arguments(*, host: str, port: int, workers: int) -> list[str]:
    return [
        "--interface", "wsgi",
        "--http", "1",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--blocking-threads", "1",
        "--respawn-failed-workers",
        "--respawn-interval", "1",
        "--workers-kill-timeout", "10",
        "--no-ws",
        "--log-config", str(ROOT / "config" / "granian-logging.json"),
        "--access-log",
        "--access-log-fmt", ACCESS_LOG_FORMAT,
        "--working-dir", str(ROOT),
        "config.wsgi:served_application",
    ]  # fmt: skip


class _InterruptibleEvent(threading.Event):
    """The server's wake-up event, whose untimed wait returns once ``interrupted()`` is true."""

    def __init__(self, interrupted: Callable[[], bool]) -> None:
        super().__init__()
        self.interrupted = interrupted

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            return super().wait(timeout)
        # Timed waits: a signal delivered to another thread of this process does not wake the
        # main thread's lock wait, and its handler runs only once the main thread runs again.
        while not super().wait(0.1):
            if self.interrupted():
                return True
        return True


class SignalSafeServer(MPServer):
    """granian's process server, whose SIGINT/SIGTERM handler only sets a flag.

    granian's own handler calls ``threading.Event.set()``, which takes a lock. A second signal
    handled while the first handler, or the main loop's ``Event.wait()``, held that lock (Ctrl+C
    and then run-embedded's SIGTERM, or a process-group kill and then a kill) deadlocked the main
    process for good: it was seen once in the suite. Here the handler takes no lock, and the main
    loop's wait looks at the flag every 0.1 s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.main_loop_interrupt = _InterruptibleEvent(lambda: self.interrupt_signal)

    def signal_handler_interrupt(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:
            # A worker forked from this process, stopped before it set up handlers of its own:
            # it ends as the signal's default action would. Set as a flag in its copy of the
            # server, the stop was lost, and the worker served on until killed 10 s later.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.interrupt_signal = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m config.server", description="Serve reviewsvc under granian.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=30, help="seconds a request may take; past them its worker dies")
    options = parser.parse_args(argv)
    if options.timeout < 1:
        parser.error("--timeout must be at least 1 second")
    os.environ["REVIEWSVC_REQUEST_TIMEOUT"] = str(options.timeout)
    sys.argv = ["granian", *granian_arguments(host=options.host, port=options.port, workers=options.workers)]
    granian.cli.Server = SignalSafeServer  # the class granian's command line builds its server from
    granian.cli.entrypoint()


if __name__ == "__main__":
    main()
