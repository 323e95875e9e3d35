"""Reads whose SQL Django compiles once per connection, then runs with each call's values.

Why it exists: on a reviewer request, building and compiling a queryset with ``select_related``
joins costs more Python than running it. Measured in one process on PostgreSQL, a call of the
session read (six joined tables) took 2.8 ms through the ORM against 0.7 ms for its SQL alone,
and the lease read 1.6 ms against 0.4 ms (docs/PERFORMANCE.md). Here a queryset is built and
compiled by Django once, so the SQL, its joins, ``FOR UPDATE`` and the conversion of rows into
instances stay Django's own. Each later call supplies only the filter values. Each value is
prepared by its field as the ORM prepares it.

It is safe only for a query whose parameters are exactly those values, each once. This is
checked the first time: the compiled parameters must be the prepared values in some order
(Django orders filters by name), and those values must all differ from one another (otherwise
which is which cannot be told; the query then runs through the ORM until a call gives distinct
values). A query with any other parameter is refused, rather than run with one in the wrong
place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.transaction import TransactionManagementError


class NotCompilable(Exception):
    """The queryset's compiled parameters are not exactly the declared values."""


@dataclass(frozen=True)
class _Compiled:
    connection: Any
    sql: str
    order: list[int]  # compiled parameter i is the declared value order[i]
    compiler: Any
    converters: dict
    init_list: list[str]
    fields_start: int
    fields_end: int
    populators: list
    locks: bool


class CompiledRead:
    """``build(**values)`` -> a queryset of model instances, compiled once per connection.

    ``fields`` names, for each value, the model field the queryset filters it by.
    ``rows(**values)`` returns the instances ``build(**values)`` would.
    """

    def __init__(self, build: Callable[..., QuerySet], *, fields: dict[str, Field], using: str = DEFAULT_DB_ALIAS):
        self._build = build
        self._fields = fields
        self._using = using
        self._compiled: _Compiled | None = None

    def rows(self, **values) -> list[Model]:
        if set(values) != set(self._fields):
            raise TypeError(f"expected the values {', '.join(self._fields)}")
        connection = connections[self._using]
        params = [field.get_db_prep_value(values[name], connection) for name, field in self._fields.items()]
        compiled = self._compiled
        if compiled is None or compiled.connection is not connection:
            if len(set(map(_hashable, params))) != len(params):
                return list(self._build(**values))
            compiled = self._compiled = _compile(self._build(**values), params, connection)
        if compiled.locks and connection.get_autocommit():
            # Django's own guard: a row lock outside a transaction would be released at once.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [params[index] for index in compiled.order])
            rows = cursor.fetchall()
        return _instances(compiled, rows)

    def first(self, **values) -> Model | None:
        found = self.rows(**values)
        return found[0] if found else None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value


def _compile(queryset: QuerySet, params: list, connection) -> _Compiled:
    if (
        queryset._iterable_class is not ModelIterable
        or queryset._known_related_objects
        or queryset._prefetch_related_lookups
    ):
        raise NotCompilable("only plain model reads (no values(), related managers or prefetches) are compiled")
    compiler = queryset.query.get_compiler(connection=connection)
    sql, compiled_params = compiler.as_sql()
    order = [params.index(value) if value in params else -1 for value in compiled_params]
    if sorted(order) != list(range(len(params))):
        raise NotCompilable(f"the compiled parameters {compiled_params!r} are not the declared values {params!r}")
    if compiler.annotation_col_map:
        raise NotCompilable("annotations are not compiled")
    klass_info, select = compiler.klass_info, compiler.select
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    return _Compiled(
        connection=connection,
        sql=sql,
        order=order,
        compiler=compiler,
        converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
        init_list=[column[0].target.attname for column in select[start:end]],
        fields_start=start,
        fields_end=end,
        populators=get_related_populators(klass_info, select, connection.alias),
        locks=bool(queryset.query.select_for_update and connection.features.has_select_for_update),
    )


def _instances(compiled: _Compiled, rows: list) -> list[Model]:
    """What ``ModelIterable`` makes of the rows, for a plain model read."""
    if compiled.converters:
        rows = compiled.compiler.apply_converters(rows, compiled.converters)
    model = compiled.compiler.klass_info["model"]
    alias = compiled.connection.alias
    made = []
    for row in rows:
        instance = model.from_db(alias, compiled.init_list, row[compiled.fields_start : compiled.fields_end])
        for populator in compiled.populators:
            populator.populate(row, instance)
        made.append(instance)
    return made
