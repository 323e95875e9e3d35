"""Helpers for the access-log tests: events through the real service, tampering as a superuser would."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.audit.models import AccessEvent
from apps.audit.services import event_record
from apps.common.context import RequestContext
from tests.apps.audit.support import PROTECTED_TABLES

REVIEWER = RequestContext(
    actor_kind="reviewer",
    actor_id="7",
    actor_label="alice@example.com",
    client_address="10.1.2.3",
    request_id="req-1",
    user_agent="Mozilla/5.0",
)


def verify_command(*args: str) -> tuple[int, str]:
    """``manage.py verify_audit_log``: its exit status and everything it said."""
    out = io.StringIO()
    try:
        call_command("verify_audit_log", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def record_events(count: int, *, action: str = "clip.audio", context: RequestContext = REVIEWER) -> list[AccessEvent]:
    events = []
    for number in range(count):
        with transaction.atomic():
            events.append(event_record(action=action, context=context, extra={"n": number}))
    return events


@contextlib.contextmanager
def as_superuser_without_triggers() -> Iterator[None]:
    """What a database superuser can do on PostgreSQL: switch the append-only triggers off.

    Runs inside the test's transaction, so the triggers are back on when the test ends.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        for table in PROTECTED_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in PROTECTED_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
