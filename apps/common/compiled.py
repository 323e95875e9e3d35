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

    def __init__(self, build: Callable[..., QuerySet], *, fields: dict[str, Field], using: str = DEFAULT_DB_ALIAS):
        self._build = build
        self._fields = fields
        self._using = using
        self._compiled: _Read | None = None

    def rows(self, **values) -> list:
        if set(values) != set(self._fields):
            raise TypeError(f"expected the values {', '.join(self._fields)}")
        connection = connections[self._using]
        params = _prepared(self._fields, values, connection)
        compiled = self._compiled
        if compiled is None or compiled.connection is not connection:
            if not _distinct(params):
                return list(self._build(**values))
            compiled = self._compiled = _compile_read(self._build, self._fields, values, params, connection)
        if compiled.locks and connection.get_autocommit():
            # Django's own guard: a row lock outside a transaction would be released at once.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [params[index] for index in compiled.order])
            rows = cursor.fetchall()
        return _made(compiled, rows)

    def first(self, **values) -> Any:
        found = self.rows(**values)
        return found[0] if found else None


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
    ):
        self._model = model
        self._build = build
        self._fields = fields
        self._using = using
        self._compiled: dict[tuple[str, ...], _Statement] = {}

    def update(self, changes: dict[str, Any], **values) -> int:
        if set(values) != set(self._fields):
            raise TypeError(f"expected the values {', '.join(self._fields)}")
        if any(hasattr(value, "resolve_expression") for value in changes.values()):
            raise TypeError("only plain values are compiled, not expressions")
        connection = connections[self._using]
        names = tuple(changes)
        meta = self._model._meta
        params = [
            *(meta.get_field(name).get_db_prep_save(value, connection) for name, value in changes.items()),
            *_prepared(self._fields, values, connection),
        ]
        compiled = self._compiled.get(names)
        if compiled is None or compiled.connection is not connection:
            if not _distinct(params):
                return self._build(**values).update(**changes)
            targets = {f"set {name}": meta.get_field(name) for name in names}
            declared = {**{f"set {name}": value for name, value in changes.items()}, **values}

            def statement(**given):
                return _update_query(self._build, names, given)

            compiled = _compile(statement, {**targets, **self._fields}, declared, params, connection)[0]
            self._compiled[names] = compiled
        with transaction.mark_for_rollback_on_error(using=self._using), connection.cursor() as cursor:
            cursor.execute(compiled.sql, [params[index] for index in compiled.order])
            return cursor.rowcount


def _update_query(build: Callable[..., QuerySet], names: tuple[str, ...], given: dict[str, Any]):
    """The UpdateQuery ``QuerySet.update`` would run, for values keyed as ``CompiledUpdate`` keys them."""
    queryset = build(**{name: value for name, value in given.items() if not name.startswith("set ")})
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values({name: given[f"set {name}"] for name in names})
    query.clear_select_clause()
    query.get_initial_alias()
    if query.related_updates or query.count_active_tables() != 1:
        raise NotCompilable("only an update of one table, filtered by its own columns, is compiled")
    return query


def _prepared(fields: dict[str, Field], values: dict[str, Any], connection) -> list:
    return [field.get_db_prep_value(values[name], connection) for name, field in fields.items()]


def _distinct(params: list) -> bool:
    return len({repr(value) if isinstance(value, list | dict) else value for value in params}) == len(params)


def _changed(value: Any) -> Any:
    """Another value of the same type: what the second compilation is given."""
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


def _compile(statement: Callable[..., Any], fields: dict[str, Field], values: dict[str, Any], params: list, connection):
    """Compile ``statement(**values)`` (a Query); prove each value's place; (statement, compiler)."""
    compiler = statement(**values).get_compiler(connection=connection)
    sql, compiled_params = compiler.as_sql()
    order = [params.index(value) if value in params else -1 for value in compiled_params]
    if sorted(order) != list(range(len(params))):
        raise NotCompilable(f"the compiled parameters {compiled_params!r} are not the declared values {params!r}")
    other_values = {name: _changed(value) for name, value in values.items()}
    other_params = [
        field.get_db_prep_save(other_values[name], connection)
        if name.startswith("set ")
        else field.get_db_prep_value(other_values[name], connection)
        for name, field in fields.items()
    ]
    other_sql, other_compiled = statement(**other_values).get_compiler(connection=connection).as_sql()
    if other_sql != sql or list(other_compiled) != [other_params[index] for index in order]:
        raise NotCompilable("a value does not land in the same place when it changes (is a constant equal to it?)")
    return _Statement(connection=connection, sql=sql, order=order), compiler


def _compile_read(build: Callable[..., QuerySet], fields: dict[str, Field], values, params, connection) -> _Read:
    queryset = build(**values)
    flat = queryset._iterable_class is FlatValuesListIterable
    if (
        (queryset._iterable_class is not ModelIterable and not flat)
        or queryset._known_related_objects
        or queryset._prefetch_related_lookups
    ):
        raise NotCompilable("only model reads and flat values_list() reads (no prefetches) are compiled")
    statement, compiler = _compile(lambda **given: build(**given).query, fields, values, params, connection)
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
