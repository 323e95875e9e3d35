"""A deadline for every request: a worker stuck past it is killed, and the server starts another.

gunicorn's master killed a sync worker stuck past ``--timeout``; granian has no such timer, so
each worker process sets the kernel's alarm clock when a request starts and clears it when the
server closes the response (after its last byte, or when the client went away). SIGALRM, left at
its default action, ends the process in the kernel, whatever the stuck thread is waiting on: a
lock in PostgreSQL, a hung connection, a token's C library, the interpreter lock. The request's
transaction rolls back with its connection, as when gunicorn killed a worker; the server's
``--respawn-failed-workers`` starts another.

The alarm is one per process, so this serves only a server that runs one request at a time in
each process: granian with ``--blocking-threads 1``, as ``config/server.py`` starts it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestDeadline:
    """Wraps a WSGI application: each request must be done within ``seconds``."""

    def __init__(self, application: WSGIApplication, *, seconds: int) -> None:
        if seconds < 1:
            raise ValueError("a request deadline is a whole number of seconds, at least 1")
        self.application, self.seconds = application, seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signal.alarm(self.seconds)
        try:
            response = self.application(environ, start_response)
        except BaseException:
            signal.alarm(0)
            raise
        return _Disarming(response)


class _Disarming:
    """The application's response, clearing the alarm when the server closes it."""

    def __init__(self, response: Iterable[bytes]) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        try:
            close = getattr(self.response, "close", None)
            if close is not None:
                close()
        finally:
            signal.alarm(0)
