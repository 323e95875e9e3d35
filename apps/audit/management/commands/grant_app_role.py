"""Give the application's database role what it needs and no more (PostgreSQL; run as the owner).

The grants of docs/AUDIT.md: read and write every table, but on the access log only read and
append (pending events too: only the owner's ``audit_seal`` moves them out), and read the
events the sealer rejected. Idempotent; the migrate step of docker-compose.yml runs it after
every ``migrate``, so a table a migration adds is covered and the log's tables never keep
UPDATE or DELETE.
"""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from apps.audit.models import AccessEvent, Checkpoint, PendingEvent, RejectedEvent, TreeNode

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def app_role_grants(role: str) -> list[str]:
    """The statements, in order, for ``role`` (a plain lowercase identifier)."""
    if not _ROLE.fullmatch(role):
        raise ValueError(f"{role!r} is not a plain role name")
    name = connection.ops.quote_name(role)
    log_tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (AccessEvent, Checkpoint, TreeNode, PendingEvent)
    )
    rejected = connection.ops.quote_name(RejectedEvent._meta.db_table)
    return [
        f"GRANT USAGE ON SCHEMA public TO {name}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}",
        # The log: read and append, nothing else (the triggers stay as a second line).
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {log_tables} FROM {name}",
        f"GRANT SELECT, INSERT ON {log_tables} TO {name}",
        # Events the sealer set aside: only audit_seal (the owner's rights) writes them.
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {rejected} FROM {name}",
        f"GRANT SELECT ON {rejected} TO {name}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {name}",
    ]


class Command(BaseCommand):
    help = "Grant the app role (e.g. reviewsvc_app) the privileges docs/AUDIT.md lists; run as the owner."

    def add_arguments(self, parser) -> None:
        parser.add_argument("role")

    def handle(self, *args, role: str, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role is for PostgreSQL; the embedded SQLite has no roles.")
        try:
            statements = app_role_grants(role)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"granted {role}: tables read/write, access log read/append only")
