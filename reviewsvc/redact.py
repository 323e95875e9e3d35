"""Bearer secrets out of log text: a filter for every log handler the service configures.

Invite tokens (43 URL-safe base64 characters), API keys (``rsk_`` + 43), session ids (32
lowercase alphanumerics) and CSRF tokens (64) are all long runs of URL-safe characters, and
nothing the service means to log looks like one: any run of at least ``MIN_SECRET`` such
characters is replaced by ``[redacted]`` — except a run of lowercase hex digits and dashes only
(UUIDs of clips and requests, SHA-256 digests), which a random token of that length is with a
probability below 10^-11. The service never puts a secret into a URL path any
more; this catches the one a stale link, a client's mistake or a library's message carries.
OTP codes (six digits) are never logged by the service and are too short to tell from other
numbers, so they are left to that rule.
"""

from __future__ import annotations

import logging
import re

MIN_SECRET = 32
REDACTED = "[redacted]"
_SECRET = re.compile(rf"[A-Za-z0-9_\-]{{{MIN_SECRET},}}")
_HEX = re.compile(r"[0-9a-f\-]+")


def _replace(match: re.Match[str]) -> str:
    return match.group() if _HEX.fullmatch(match.group()) else REDACTED


def redact(text: str) -> str:
    """``text`` with every token-shaped run replaced by ``[redacted]``."""
    return _SECRET.sub(_replace, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message, arguments, traceback and stack text with ``redact``.

    Attach it to handlers, not loggers: a handler sees every record that reaches it, also those
    propagated from other loggers (Django's request warnings, gunicorn's error and access logs).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
