"""Statements whose SQL Django compiles once per connection, then runs with each call's values.

Why it exists: on a reviewer request, building and compiling a queryset costs more Python than
running it. Measured in one process on PostgreSQL, a call of the session read (six joined
tables) took 2.8 ms through the ORM against 0.7 ms for its SQL alone, and the lease read 1.6 ms
against 0.4 ms (docs/PERFORMANCE.md). Here a queryset (or its ``update()``) is built and
compiled by Django once, so the SQL, its joins, ``FOR UPDATE`` and the conversion of rows into
instances stay Django's own. Each later call supplies only the values, each prepared by its
field as the ORM prepares it.

It is safe only for a statement whose parameters are exactly those values, each once. That is
proven when it is compiled, twice over: the compiled parameters must be the prepared values in
some order (Django orders filters by name); and compiled again with every value changed (an
integer plus one, a string lengthened, a time a microsecond later, a UUID with a bit flipped),
the same SQL must come out with every parameter changed in its place. A constant of the query
that happened to equal a value, or a value the query leaves out, fails the second check. A
statement that fails either is refused, rather than run with a value in the wrong place. The
values must differ from one another (otherwise which is which cannot be told); a call whose
values do not runs through the ORM and leaves the compiling to a later call.

``execute_unread(sql, params)`` runs a write whose result nobody reads through the backend's
``send_with_next()`` where it has one, so it travels with the connection's next message.

``prepared=True`` runs a statement through the database backend's ``prepared_cursor()`` where
it has one (the PostgreSQL backend of config/postgresql; SQLite has none): parsed and planned
once per connection, and after five runs planned no more (PostgreSQL keeps one generic plan
when no plan for given values is better). Only a lookup by a primary or unique key asks for it,
since its best plan does not depend on the values.

It reads a few of Django's own internals (a queryset's iterable class, the compiler's
``klass_info`` and converters, the related populators), as ``ModelIterable`` does; Django is
pinned, and tests/apps/common/test_compiled.py compares what it returns with the ORM's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Field, Model, QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, get_related_populators
from django.db.models.sql import UpdateQuery
from django.db.transaction import TransactionManagementError


class NotCompilable(Exception):
    """The statement's compiled parameters are not exactly the declared values."""


@dataclass(frozen=True)
class _Statement:
    connection: Any
    sql: str
    order: list[int]  # compiled parameter i is the declared value order[i]


@dataclass(frozen=True)
class _Read(_Statement):
    compiler: Any
    converters: dict
    flat: bool  # values_list(one field, flat=True): the values, not instances
    init_list: list[str]
    fields_start: int
    fields_end: int
    populators: list
    locks: bool


class CompiledRead:
    """``build(**values)`` -> a queryset of model instances (or one flat ``values_list``),
    compiled once per connection.

    ``fields`` names, for each value, the model field the queryset filters it by.
    ``rows(**values)`` returns what ``build(**values)`` would.
    """

    def __init__(
        self,
        build: Callable[..., QuerySet],
        *,
        fields: dict[str, Field],
        using: str = DEFAULT_DB_ALIAS,
        prepared: bool = False,
    ):
        self._build = build
        self._fields = fields
        self._using = using
        self._prepared = prepared
        self._compiled: _Read | None = None

    def rows(self, **values) -> list:
        if values.keys() != self._fields.keys():
            raise TypeError(f"expected the values {', '.join(self._fields)}")
        connection = connections[self._using]
        params = _filter_params(self._fields, values, connection)
        compiled = self._compiled
        if compiled is None or compiled.connection is not connection:
            if not _distinct(params):
                return list(self._build(**values))
            compiled = self._compiled = self._compile(values, params, connection)
        if compiled.locks and connection.get_autocommit():
            # Django's own guard: a row lock outside a transaction would be released at once.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with _cursor(connection, self._prepared) as cursor:
            cursor.execute(compiled.sql, _placed(compiled, params))
            rows = cursor.fetchall()
        return _made(compiled, rows)

    def first(self, **values) -> Any:
        found = self.rows(**values)
        return found[0] if found else None

    def _compile(self, values: dict[str, Any], params: list, connection) -> _Read:
        queryset = self._build(**values)
        flat = queryset._iterable_class is FlatValuesListIterable
        if (
            (queryset._iterable_class is not ModelIterable and not flat)
            or queryset._known_related_objects
            or queryset._prefetch_related_lookups
        ):
            raise NotCompilable("only model reads and flat values_list() reads (no prefetches) are compiled")
        other = _changed_values(values)
        statement, compiler = _compile(
            queryset.query,
            params,
            self._build(**other).query,
            _filter_params(self._fields, other, connection),
            connection,
        )
        select = compiler.select
        if (len(select) != 1) if flat else bool(compiler.annotation_col_map):
            raise NotCompilable("annotations are not compiled")
        if flat:
            start, end, populators, init_list = 0, 1, [], []
        else:
            select_fields = compiler.klass_info["select_fields"]
            start, end = select_fields[0], select_fields[-1] + 1
            init_list = [column[0].target.attname for column in select[start:end]]
            populators = get_related_populators(compiler.klass_info, select, connection.alias)
        return _Read(
            connection=statement.connection,
            sql=statement.sql,
            order=statement.order,
            compiler=compiler,
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            flat=flat,
            init_list=init_list,
            fields_start=start,
            fields_end=end,
            populators=populators,
            locks=bool(queryset.query.select_for_update and connection.features.has_select_for_update),
        )


class CompiledUpdate:
    """``build(**values)`` -> the queryset of ``model`` whose rows ``update(changes, **values)``
    changes, with the SQL compiled once per connection for each set of changed fields.

    ``fields`` names, for each value, the model field the queryset filters it by. Returns the
    number of rows changed, as ``QuerySet.update`` does.
    """

    def __init__(
        self,
        model: type[Model],
        build: Callable[..., QuerySet],
        *,
        fields: dict[str, Field],
        using: str = DEFAULT_DB_ALIAS,
        prepared: bool = False,
    ):
        self._model = model
        self._build = build
        self._fields = fields
        self._using = using
        self._prepared = prepared
        self._compiled: dict[tuple[str, ...], _Statement] = {}

    def update(self, changes: dict[str, Any], **values) -> int:
        if values.keys() != self._fields.keys():
            raise TypeError(f"expected the values {', '.join(self._fields)}")
        if any(hasattr(value, "resolve_expression") for value in changes.values()):
            raise TypeError("only plain values are compiled, not expressions")
        connection = connections[self._using]
        params = self._params(changes, values, connection)
        names = tuple(changes)
        compiled = self._compiled.get(names)
        if compiled is None or compiled.connection is not connection:
            if not _distinct(params):
                return self._build(**values).update(**changes)
            other_changes, other_values = _changed_values(changes), _changed_values(values)
            compiled = self._compiled[names] = _compile(
                self._query(changes, values),
                params,
                self._query(other_changes, other_values),
                self._params(other_changes, other_values, connection),
                connection,
            )[0]
        with transaction.mark_for_rollback_on_error(using=self._using), _cursor(connection, self._prepared) as cursor:
            cursor.execute(compiled.sql, _placed(compiled, params))
            return cursor.rowcount

    def _params(self, changes: dict[str, Any], values: dict[str, Any], connection) -> list:
        """The SET values (prepared for saving, as ``update()`` prepares them), then the filters'."""
        meta = self._model._meta
        return [
            *(meta.get_field(name).get_db_prep_save(value, connection) for name, value in changes.items()),
            *_filter_params(self._fields, values, connection),
        ]

    def _query(self, changes: dict[str, Any], values: dict[str, Any]) -> UpdateQuery:
        """The query ``QuerySet.update`` would run."""
        query = self._build(**values).query.chain(UpdateQuery)
        query.add_update_values(changes)
        query.clear_select_clause()
        query.get_initial_alias()
        if query.related_updates or query.count_active_tables() != 1:
            raise NotCompilable("only an update of one table, filtered by its own columns, is compiled")
        return query


def execute_unread(sql: str, params: list, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Run a write whose result nobody reads, in the caller's transaction and in its place.

    The backend of config/postgresql sends it with the connection's next message, normally the
    COMMIT (``send_with_next``): one round trip fewer, and a failure fails that message. Other
    backends run it at once.
    """
    connection = connections[using]
    if hasattr(connection, "send_with_next"):
        connection.send_with_next(sql, params)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _cursor(connection, prepared: bool):
    if prepared and hasattr(connection, "prepared_cursor"):
        return connection.prepared_cursor()
    return connection.cursor()


def _filter_params(fields: dict[str, Field], values: dict[str, Any], connection) -> list:
    return [field.get_db_prep_value(values[name], connection) for name, field in fields.items()]


def _placed(compiled: _Statement, params: list) -> list:
    return [params[index] for index in compiled.order]


def _distinct(params: list) -> bool:
    return len({repr(value) if isinstance(value, list | dict) else value for value in params}) == len(params)


def _changed_values(values: dict[str, Any]) -> dict[str, Any]:
    """Each value changed to another of its type: what the second compilation is given."""
    return {name: _changed(value) for name, value in values.items()}


def _changed(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        raise NotCompilable(f"{value!r} has no other value to compile with; make it a constant of the query")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "~"
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=value.int ^ 1)
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, date):
        return value + timedelta(days=1)
    raise NotCompilable(f"a value of type {type(value).__name__} is not compiled")


def _compile(query, params: list, other_query, other_params: list, connection):
    """Compile ``query`` (its declared values prepared as ``params``) and prove each value's
    place with ``other_query``, the same built from every value changed; (statement, compiler)."""
    compiler = query.get_compiler(connection=connection)
    sql, compiled_params = compiler.as_sql()
    order = [params.index(value) if value in params else -1 for value in compiled_params]
    if sorted(order) != list(range(len(params))):
        raise NotCompilable(f"the compiled parameters {compiled_params!r} are not the declared values {params!r}")
    other_sql, other_compiled = other_query.get_compiler(connection=connection).as_sql()
    if other_sql != sql or list(other_compiled) != [other_params[index] for index in order]:
        raise NotCompilable("a value does not land in the same place when it changes (is a constant equal to it?)")
    return _Statement(connection=connection, sql=sql, order=order), compiler


def _made(compiled: _Read, rows: list) -> list:
    """What ``ModelIterable`` (or ``FlatValuesListIterable``) makes of the rows."""
    if compiled.converters:
        rows = compiled.compiler.apply_converters(rows, compiled.converters)
    if compiled.flat:
        return [row[0] for row in rows]
    model = compiled.compiler.klass_info["model"]
    alias = compiled.connection.alias
    made: list[Model] = []
    for row in rows:
        instance = model.from_db(alias, compiled.init_list, row[compiled.fields_start : compiled.fields_end])
        for populator in compiled.populators:
            populator.populate(row, instance)
        made.append(instance)
    return made
