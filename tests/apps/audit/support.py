"""Letting the test framework's flush through the access log's TRUNCATE trigger.

pytest-django's transactional tests empty every table with TRUNCATE after each test, which the
production trigger refuses. Only around that flush, the tables' owner (the test database's
role) switches the user triggers off and back on. Production never does this: its application
role does not own the tables and cannot alter them (docs/AUDIT.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import pytest
from django.db import connections
from django.test import TransactionTestCase

PROTECTED_TABLES = (
    "audit_accessevent",
    "audit_checkpoint",
    "audit_treenode",
    "audit_pendingevent",
    "audit_rejectedevent",
)


@contextlib.contextmanager
def access_log_triggers_disabled(aliases: Iterable[str]) -> Iterator[None]:
    postgres = [connections[alias] for alias in aliases if connections[alias].vendor == "postgresql"]
    for connection in postgres:
        with connection.cursor() as cursor:
            for table in PROTECTED_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        for connection in postgres:
            with connection.cursor() as cursor:
                for table in PROTECTED_TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.fixture(scope="session", autouse=True)
def access_log_flushable_by_the_suite() -> Iterator[None]:
    original = TransactionTestCase._fixture_teardown

    def fixture_teardown(self) -> None:
        with access_log_triggers_disabled(self._databases_names(include_mirrors=False)):
            original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", fixture_teardown)
        yield
