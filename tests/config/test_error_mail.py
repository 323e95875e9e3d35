"""The admins' error mail carries no bearer secret: not in the message, not in a frame's locals."""

from __future__ import annotations

import logging
import secrets

import pytest
from django.core import mail
from django.test import RequestFactory

from reviewsvc.redact import REDACTED


@pytest.fixture
def admins(settings):
    settings.ADMINS = [("Operations", "ops@reviewsvc.example")]
    settings.DEBUG = False


def failing_with(token: str) -> None:
    invite_token = token  # a frame's local, as the report lists it
    raise RuntimeError(f"invite {invite_token} could not be read")


def test_a_server_error_mail_redacts_tokens_in_the_message_the_traceback_and_the_request(admins):
    token = secrets.token_urlsafe(32)
    request = RequestFactory().get(f"/invite/{token}/")
    try:
        failing_with(token)
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: /invite/%s/", token, exc_info=True, extra={"status_code": 500, "request": request}
        )

    [message] = mail.outbox
    assert message.to == ["ops@reviewsvc.example"]
    assert "RuntimeError" in message.body
    assert REDACTED in message.subject
    assert token not in message.subject
    assert token not in message.body
    assert message.alternatives == []


def test_no_error_mail_is_sent_in_debug(settings):
    settings.ADMINS = [("Operations", "ops@reviewsvc.example")]
    settings.DEBUG = True
    logging.getLogger("django.request").error("Internal Server Error: /", extra={"status_code": 500})
    assert mail.outbox == []
