"""The session engine (``SESSION_ENGINE``): Django's database sessions, in ``AccountSession``.

Each save also writes the session's user id and device mark as columns, so the row read at the
start of a request joins the user, their reviewer profile and facility and the verifying
device (``apps.accounts.identity`` uses them, checked against the session's data): who is asking
costs that one query, whose SQL is compiled once per connection (``apps.common.compiled``).
"""

from __future__ import annotations

import functools

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from apps.common.compiled import CompiledRead


class SessionStore(DatabaseSessionStore):
    # The row the last load read, with its joins; None before a load or when none was found.
    row = None

    @classmethod
    def get_model_class(cls):
        from apps.accounts.models import AccountSession

        return AccountSession

    def _get_session_from_db(self):
        # What Django's database store reads (the unexpired row of this key), compiled once.
        self.row = _session_read().first(session_key=self.session_key, now=timezone.now())
        if self.row is None:
            self._session_key = None
        return self.row

    def create_model_instance(self, data):
        return _with_identity_columns(super().create_model_instance(data), data)

    async def acreate_model_instance(self, data):
        return _with_identity_columns(await super().acreate_model_instance(data), data)


@functools.cache
def _session_read() -> CompiledRead:
    from apps.accounts.models import AccountSession

    fields = AccountSession._meta
    return CompiledRead(
        lambda session_key, now: AccountSession.objects.filter(session_key=session_key, expire_date__gt=now),
        fields={"session_key": fields.get_field("session_key"), "now": fields.get_field("expire_date")},
        prepared=True,  # by its primary key: the joins follow it
    )


def _with_identity_columns(row, data):
    from apps.accounts.models import SESSION_DEVICE_FIELDS, decimal_id, device_mark_parts

    row.user_id = decimal_id(data.get(SESSION_KEY))
    mark = device_mark_parts(data.get(DEVICE_ID_SESSION_KEY))
    joined = row.device_field(mark[0]) if mark else None
    for field in SESSION_DEVICE_FIELDS:
        setattr(row, f"{field}_id", mark[1] if field == joined else None)
    return row
