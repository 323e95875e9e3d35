"""The session engine (``SESSION_ENGINE``): Django's database sessions, in ``AccountSession``.

Each save also writes the session's user id and device mark as columns, so the row read at the
start of a request joins the user, their reviewer profile and facility and the verifying
device (``apps.accounts.identity`` uses them, checked against the session's data): who is asking
costs that one query.
"""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp_webauthn.utils import get_credential_model


class SessionStore(DatabaseSessionStore):
    # The row the last load read, with its joins; None before a load or when none was found.
    row = None

    @classmethod
    def get_model_class(cls):
        from apps.accounts.models import AccountSession

        return AccountSession

    def _get_session_from_db(self):
        self.row = super()._get_session_from_db()
        return self.row

    def create_model_instance(self, data):
        return _with_identity_columns(super().create_model_instance(data), data)

    async def acreate_model_instance(self, data):
        return _with_identity_columns(await super().acreate_model_instance(data), data)


def _with_identity_columns(row, data):
    from apps.accounts.models import EncryptedTOTPDevice

    row.user_id = _row_id(data.get(SESSION_KEY))
    label, _, device_id = str(data.get(DEVICE_ID_SESSION_KEY) or "").rpartition("/")
    device_pk = _row_id(device_id)
    row.totp_device_id = device_pk if label == EncryptedTOTPDevice.model_label() else None
    row.webauthn_credential_id = device_pk if label == get_credential_model().model_label() else None
    return row


def _row_id(text: object) -> int | None:
    """A primary key as the session writes it (decimal text), or None for anything else."""
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
