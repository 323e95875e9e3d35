"""The admins' error mail, with bearer secrets redacted like every other log handler's text.

Django's own ``mail_admins`` handler mails a 500's traceback with the local variables of every
frame and the request's details; an invite token or API key in a frame or a URL would leave the
service in a mail. Redacting the finished subject and body covers whatever the reporter put in.
"""

from __future__ import annotations

from typing import Any

from django.utils.log import AdminEmailHandler

from reviewsvc.redact import redact


class RedactingAdminEmailHandler(AdminEmailHandler):
    def send_mail(self, subject: str, message: str, *args: Any, **kwargs: Any) -> None:
        # The HTML report repeats everything in markup the redaction does not parse: never sent.
        kwargs["html_message"] = None
        super().send_mail(redact(subject), redact(message), *args, **kwargs)
