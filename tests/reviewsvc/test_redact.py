"""Token-shaped text never leaves a log handler."""

from __future__ import annotations

import io
import logging
import secrets

from reviewsvc.redact import REDACTED, RedactSecretsFilter, redact


def test_invite_tokens_api_keys_and_session_ids_are_redacted():
    token = secrets.token_urlsafe(32)
    api_key = "rsk_" + secrets.token_urlsafe(32)
    session_id = "k0" * 16
    text = redact(f"GET /invite/{token}/ key={api_key} sessionid={session_id}")
    assert token not in text
    assert api_key[4:] not in text
    assert session_id not in text
    assert text.count(REDACTED) == 3


def test_ordinary_log_text_is_kept():
    line = 'GET /api/v1/review/next 200 "Mozilla/5.0" clip 3f2a9c1e-0d4b-4c55-9a1e-1b2c3d4e5f60 req ' + "ab" * 16
    assert redact(line) == line


def logged(record_it) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        record_it(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_the_filter_redacts_arguments_tracebacks_and_stacks():
    token = secrets.token_urlsafe(32)

    def record_it(logger):
        logger.warning("Not Found: %s", f"/invite/{token}/")
        try:
            raise ValueError(f"bad token {token}")
        except ValueError:
            logger.exception("failed")
        logger.warning("here", stack_info=True, extra={"x": token})

    output = logged(record_it)
    assert token not in output
    assert "Not Found: /invite/[redacted]/" in output
    assert "ValueError: bad token [redacted]" in output
