import time
import uuid

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
from django.http import HttpRequest, HttpResponse


class RequestContextMiddleware:
    """Gives every request an id that its log events and its response share."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class _QueryTimer:
    """A database execute wrapper that adds up the statements of one request and their time."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


class ServerTimingMiddleware:
    """``Server-Timing`` on every response, in DEBUG only: time in Python, in the database, in all.

    Outermost, so the session save and every other middleware are counted. A streamed body is
    measured up to its first chunk, which the audio view makes before the response starts. Off
    (not installed at all) outside DEBUG: the figures would tell a stranger how long the
    database took to answer.
    """

    def __init__(self, get_response) -> None:
        if not settings.DEBUG:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timer = _QueryTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = self.get_response(request)
        total_ms = (time.perf_counter() - started) * 1000
        db_ms = timer.seconds * 1000
        response["Server-Timing"] = (
            f'app;dur={total_ms - db_ms:.2f}, db;dur={db_ms:.2f};desc="{timer.count} queries", total;dur={total_ms:.2f}'
        )
        return response
