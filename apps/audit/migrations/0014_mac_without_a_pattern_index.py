"""The log's MAC keeps its unique index and loses the LIKE-pattern index Django adds beside it.

On PostgreSQL a unique CharField gets a second, ``varchar_pattern_ops`` index for ``LIKE``
prefix queries. Nothing searches MACs by prefix; the uniqueness check and the sealer's replay
probe use equality, which the unique index serves. The other index was one more entry that every
sealed event wrote.
"""

from django.db import migrations

FIND_PATTERN_INDEX = """
SELECT indexname FROM pg_indexes
WHERE schemaname = current_schema() AND tablename = 'audit_accessevent'
    AND indexdef LIKE %s
"""
PATTERN_INDEX = "audit_accessevent_mac_aa7313e6_like"


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIND_PATTERN_INDEX, ["%(mac varchar_pattern_ops)"])
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX "{name}"')


def restore(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'CREATE INDEX "{PATTERN_INDEX}" ON audit_accessevent (mac varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0013_seal_by_index_lookups"),
    ]

    operations = [
        migrations.RunPython(drop, restore, elidable=False),
    ]
