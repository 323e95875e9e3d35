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
import sys
import threading
import time
from pathlib import Path

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


class SignalSafeServer(MPServer):
    """granian's process server, whose SIGINT/SIGTERM handler only sets a flag.

    granian's own handler calls ``threading.Event.set()``, which takes a lock. A second signal
    handled while the first handler, or the main loop's ``Event.wait()``, held that lock (Ctrl+C
    and then run-embedded's SIGTERM, or a process-group kill and then a kill) deadlocked the main
    process for good: it was seen once in the suite. Here the handler takes no lock, and a thread
    of the server's wakes the main loop within 0.1 s of the flag being set.
    """

    def signal_handler_interrupt(self, *args: object, **kwargs: object) -> None:
        self.interrupt_signal = True

    def startup(self, spawn_target: object, target_loader: object) -> None:
        super().startup(spawn_target, target_loader)
        threading.Thread(target=self._wake_when_interrupted, name="interrupt-wake", daemon=True).start()

    def _wake_when_interrupted(self) -> None:
        # Again and again once interrupted: the main loop may clear the event after one wake
        # while it respawns a worker, and must still see the interrupt when it waits next.
        while True:
            time.sleep(0.1)
            if self.interrupt_signal:
                self.main_loop_interrupt.set()


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
