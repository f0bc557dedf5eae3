"""Prepared reads: a fixed-shape query compiled once, its arguments bound on each call.

Django builds and compiles a queryset's SQL on every evaluation; for a small read that is most of
its cost (``latest_prices`` for 20 assets: about 1.4 ms in the ORM, 0.12 ms in SQLite). The reads
on the execution path run hundreds of times a day in a backtest and on every tick live, so the
few hottest are declared once as a :class:`PreparedRead`::

    _LAST_CLOSES = PreparedRead(
        lambda asset_ids: Asset.objects.filter(pk__in=asset_ids).values_list("pk", "symbol")
    )
    rows = _LAST_CLOSES(asset_ids)  # a list of tuples, as ``list(queryset)`` would give

The builder receives placeholder arguments the first time a connection sees a shape (the
number of arguments, which are ``None``, the length of each list, each boolean's value). The
queryset is compiled twice, with two sets of placeholders; the SQL must come out the same and
each parameter must be either the same in both (a constant of the query) or one argument's
placeholder in both. Anything else, such as a parameter computed from an argument
(``day - timedelta(days=40)``) or an argument that changes the SQL, is refused when the read is
prepared, so a prepared read cannot silently bind a stale value. Each later call puts the
adapted arguments into the parameter list, runs the SQL, and converts the rows with the
compiler's own converters, exactly as Django would. A converter to a decimal, a date, a
timestamp or a boolean remembers what it made of each value (up to :data:`MAX_MEMO` values per
column): SQLite returns a price as a float that Django turns into a ``Decimal`` with two context
operations, and the same closes are read again and again.

Supported: querysets of model instances (with ``select_related``, ``only``, annotations and
``select_for_update``, which must run inside a transaction as usual) and ``values()`` and
``values_list()`` querysets (flat or not); not prefetching or querysets from a related manager.
The builder must not branch on an argument's value except through the shape. Arguments: ints,
strings, dates, aware datetimes, ``None``, booleans, and lists (or tuples, sets) of ints or
strings; a list is deduplicated and stripped of ``None`` as Django's ``__in`` does.

Writes get the same treatment: :class:`PreparedSaves`, a model mixin, runs ``save()`` (and so
``create()``) with statements compiled once per connection and set of fields, and
:func:`insert_rows` inserts new rows of one model with one compiled statement.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

_SUPPORTED = (ModelIterable, ValuesIterable, ValuesListIterable, FlatValuesListIterable)
#: Placeholder dates start here (no real argument is a date in the year 1000).
_PLACEHOLDER_DAY = date(1000, 1, 1).toordinal()
#: At most this many shapes (argument kinds, list lengths) per read and connection.
MAX_SHAPES = 128
#: At most this many remembered conversions per column of a read; then it starts again.
MAX_MEMO = 65536
#: Converted values that are immutable and depend on nothing but the database value.
_MEMO_TYPES = frozenset({"DecimalField", "DateField", "DateTimeField", "BooleanField"})


class _Kind:
    """How one argument is placed: its placeholder for a compile pass and its adapter."""

    INT = "int"
    STR = "str"
    DATE = "date"
    DATETIME = "datetime"


def _kind_of(value: object, *, where: str) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{where}: booleans are part of the shape, not a bound argument")
    if isinstance(value, int):
        return _Kind.INT
    if isinstance(value, str):
        return _Kind.STR
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"{where}: a datetime argument must be timezone-aware")
        return _Kind.DATETIME
    if isinstance(value, date):
        return _Kind.DATE
    raise TypeError(f"{where}: unsupported argument type {type(value).__name__}")


def _placeholder(kind: str, slot: int, compile_pass: int) -> object:
    """A value no real argument takes, distinct per slot and per compile pass."""
    serial = 2 * slot + compile_pass
    if kind == _Kind.INT:
        return -(10**15) - serial
    if kind == _Kind.STR:
        return f"\x1fprepared-{serial}"
    if kind == _Kind.DATE:
        return date.fromordinal(_PLACEHOLDER_DAY + serial)
    return datetime.fromordinal(_PLACEHOLDER_DAY + serial).replace(tzinfo=UTC)


def _adapter(kind: str, conn: Any) -> Callable[[Any], Any]:
    if kind == _Kind.DATE:
        return conn.ops.adapt_datefield_value
    if kind == _Kind.DATETIME:
        return conn.ops.adapt_datetimefield_value
    return lambda value: value


@dataclass(frozen=True)
class _Arg:
    """One argument of a call, normalised: a scalar, a list of scalars, None or a boolean."""

    shape: tuple[object, ...]
    values: tuple[object, ...]  # the scalars to bind, in order (empty for None and booleans)
    kinds: tuple[str, ...]


def _normalise(value: object, index: int) -> _Arg:
    where = f"argument {index}"
    if value is None:
        return _Arg(("none",), (), ())
    if isinstance(value, bool):
        return _Arg(("bool", value), (), ())
    if isinstance(value, list | tuple | set | frozenset):
        # as Django's __in: duplicates and None dropped, first occurrence kept
        items = tuple(dict.fromkeys(v for v in value if v is not None))
        kinds = tuple(_kind_of(v, where=where) for v in items)
        if len(set(kinds)) > 1:
            raise TypeError(f"{where}: a list must hold values of one type")
        return _Arg(("list", kinds[:1], len(items)), items, kinds)
    kind = _kind_of(value, where=where)
    return _Arg(("one", kind), (value,), (kind,))


@dataclass
class _Rows:
    """How a row becomes a model instance (as Django's ``ModelIterable`` does it)."""

    model: Any
    db: str
    init_list: list[str]
    start: int
    end: int
    related: list[Any]
    annotations: dict[str, int]

    def build(self, row: Any) -> Any:
        obj = self.model.from_db(self.db, self.init_list, row[self.start : self.end])
        for populator in self.related:
            populator.populate(row, obj)
        for name, position in self.annotations.items():
            setattr(obj, name, row[position])
        return obj


@dataclass
class _Plan:
    sql: str | None  # None: the query can match nothing for this shape
    params: list[object]
    slots: list[tuple[int, int]]  # (parameter position, scalar index)
    adapters: list[Callable[[Any], Any]]  # per scalar index
    compiler: SQLCompiler | None
    converters: list[tuple[int, Callable[[Any], Any]]]  # (column, value converter)
    trim: int | None
    flat: bool
    names: list[str] | None  # values(): the dict keys
    instances: _Rows | None = None  # a queryset of model instances
    for_update: bool = False


class PreparedRead:
    """A read whose SQL is compiled once per connection and argument shape (module docstring)."""

    def __init__(self, build: Callable[..., QuerySet[Any, Any]], *, name: str | None = None):
        self._build = build
        self.name = name or getattr(build, "__qualname__", "prepared read")
        self._plans: WeakKeyDictionary[Any, dict[tuple[object, ...], _Plan]] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, *args: object) -> list[Any]:
        """The rows, as evaluating the queryset would give them."""
        plan, rows = self._execute(args)
        return self._convert(plan, rows) if rows else []

    def raw(self, *args: object) -> list[Any]:
        """The cursor's rows as the database driver returns them, without Django's converters
        (for reads of many rows that convert their values themselves)."""
        return self._execute(args)[1]

    def iterate(self, *args: object, chunk_size: int = 2000) -> Iterator[Any]:
        """The rows one by one, fetched ``chunk_size`` at a time from one query, as
        ``QuerySet.iterator`` streams them (a server-side cursor where the database has them)."""
        conn, plan, params = self._bind(args)
        if params is None:
            return
        with conn.chunked_cursor() as cursor:
            cursor.execute(plan.sql, params)
            while rows := cursor.fetchmany(chunk_size):
                yield from self._convert(plan, rows)

    def _execute(self, args: tuple[object, ...]) -> tuple[_Plan, list[Any]]:
        conn, plan, params = self._bind(args)
        if params is None:
            return plan, []
        with conn.cursor() as cursor:
            cursor.execute(plan.sql, params)
            return plan, cursor.fetchall()

    def _bind(self, args: tuple[object, ...]) -> tuple[Any, _Plan, list[Any] | None]:
        """The connection, the plan of the arguments' shape, and the statement's parameters
        (None where the query can match nothing)."""
        conn = connections[DEFAULT_DB_ALIAS]
        normalised = [_normalise(value, index) for index, value in enumerate(args)]
        shape = tuple(arg.shape for arg in normalised)
        plans = self._plans.get(conn)
        plan = plans.get(shape) if plans is not None else None
        if plan is None:
            plan = self._prepare(conn, normalised, shape)
        if plan.sql is None:
            return conn, plan, None
        if (
            plan.for_update
            and conn.features.has_select_for_update
            and conn.features.supports_transactions
            and conn.get_autocommit()
        ):
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        scalars = list(itertools.chain.from_iterable(arg.values for arg in normalised))
        params: list[Any] = list(plan.params)
        for position, index in plan.slots:
            params[position] = plan.adapters[index](scalars[index])
        return conn, plan, params

    @staticmethod
    def _convert(plan: _Plan, rows: list[Any]) -> list[Any]:
        if plan.trim is not None:
            rows = [row[: plan.trim] for row in rows]
        if plan.converters:
            # column by column (zip(*rows) would take one argument per row: slow for many rows)
            columns = [list(map(itemgetter(i), rows)) for i in range(len(rows[0]))]
            for position, convert in plan.converters:
                columns[position] = list(map(convert, columns[position]))
            rows = list(zip(*columns, strict=True))
        if plan.instances is not None:
            return [plan.instances.build(row) for row in rows]
        if plan.flat:
            return [row[0] for row in rows]
        if plan.names is not None:
            names = plan.names
            return [dict(zip(names, row, strict=True)) for row in rows]
        return [tuple(row) for row in rows]

    def _prepare(self, conn: Any, normalised: list[_Arg], shape: tuple[object, ...]) -> _Plan:
        kinds = list(itertools.chain.from_iterable(arg.kinds for arg in normalised))
        passes = [self._compile(conn, normalised, compile_pass) for compile_pass in (0, 1)]
        (first, sql, params, placeholders), (_, sql_b, params_b, placeholders_b) = passes
        adapters = [_adapter(kind, conn) for kind in kinds]
        if sql is None or sql_b is None:
            if sql != sql_b:
                raise ImproperlyConfigured(f"{self.name}: an argument changes whether it matches")
            plan = _Plan(
                sql=None,
                params=[],
                slots=[],
                adapters=adapters,
                compiler=None,
                converters=[],
                trim=None,
                flat=False,
                names=None,
            )
        else:
            if sql != sql_b or len(params) != len(params_b):
                raise ImproperlyConfigured(
                    f"{self.name}: an argument's value changes the SQL; it cannot be prepared"
                )
            adapted = [adapters[i](p) for i, p in enumerate(placeholders)]
            adapted_b = [adapters[i](p) for i, p in enumerate(placeholders_b)]
            slots: list[tuple[int, int]] = []
            for position, (a, b) in enumerate(zip(params, params_b, strict=True)):
                if a == b and a not in adapted:
                    continue  # a constant of the query
                matches = [i for i, value in enumerate(adapted) if value == a]
                if len(matches) != 1 or adapted_b[matches[0]] != b:
                    raise ImproperlyConfigured(
                        f"{self.name}: parameter {position} is computed from an argument; pass "
                        "the value itself"
                    )
                slots.append((position, matches[0]))
            unbound = set(range(len(kinds))) - {index for _, index in slots}
            if unbound:
                raise ImproperlyConfigured(
                    f"{self.name}: arguments {sorted(unbound)} do not reach the SQL as given"
                )
            assert first is not None
            queryset, compiler = first
            fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
            names = None
            instances = None
            if queryset._iterable_class is ModelIterable:
                klass_info, select = compiler.klass_info, compiler.select
                assert klass_info is not None
                start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
                instances = _Rows(
                    model=klass_info["model"],
                    db=conn.alias,
                    init_list=[f[0].target.attname for f in select[start:end]],
                    start=start,
                    end=end,
                    # (the stubs describe a later Django, whose signature adds an argument)
                    related=get_related_populators(  # type: ignore[call-arg]
                        klass_info, select, conn.alias
                    ),
                    annotations=dict(compiler.annotation_col_map or {}),
                )
            if queryset._iterable_class is ValuesIterable:
                query = queryset.query
                names = (
                    list(query.selected)
                    if query.selected
                    else [*query.extra_select, *query.values_select, *query.annotation_select]
                )
            plan = _Plan(
                sql=sql,
                params=list(params),
                slots=slots,
                adapters=adapters,
                compiler=compiler,
                converters=_value_converters(compiler, fields, conn),
                trim=compiler.col_count if compiler.has_extra_select else None,
                flat=queryset._iterable_class is FlatValuesListIterable,
                names=names,
                instances=instances,
                for_update=bool(queryset.query.select_for_update),
            )
        with self._lock:
            plans = self._plans.setdefault(conn, {})
            if len(plans) >= MAX_SHAPES:
                plans.clear()
            plans[shape] = plan
        return plan

    def _compile(
        self, conn: Any, normalised: list[_Arg], compile_pass: int
    ) -> tuple[
        tuple[QuerySet[Any, Any], SQLCompiler] | None, str | None, list[object], list[object]
    ]:
        placeholders: list[object] = []
        call_args: list[object] = []
        for arg in normalised:
            kind = arg.shape[0]
            if kind == "none":
                call_args.append(None)
            elif kind == "bool":
                call_args.append(arg.shape[1])
            else:
                values = [
                    _placeholder(k, len(placeholders) + i, compile_pass)
                    for i, k in enumerate(arg.kinds)
                ]
                placeholders.extend(values)
                call_args.append(values if kind == "list" else values[0])
        queryset = self._build(*call_args)
        if not isinstance(queryset, QuerySet) or queryset._iterable_class not in _SUPPORTED:
            raise ImproperlyConfigured(
                f"{self.name}: the builder must return a queryset of rows or values"
            )
        if getattr(queryset, "_prefetch_related_lookups", ()) or getattr(
            queryset, "_known_related_objects", {}
        ):
            raise ImproperlyConfigured(
                f"{self.name}: prefetching and related managers' querysets are not prepared"
            )
        if queryset.db != conn.alias:
            raise ImproperlyConfigured(f"{self.name}: only the default database is prepared")
        compiler = queryset.query.get_compiler(connection=conn)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return None, None, [], placeholders
        return (queryset, compiler), sql, list(params), placeholders


def _value_converters(
    compiler: SQLCompiler, fields: list[Any], conn: Any
) -> list[tuple[int, Callable[[Any], Any]]]:
    """Each converted column's converters (as ``SQLCompiler.apply_converters`` applies them) as
    one function of the value; remembering its results where they are immutable values."""
    result: list[tuple[int, Callable[[Any], Any]]] = []
    for position, (converters, expression) in compiler.get_converters(fields).items():

        def convert(value: Any, converters: Any = converters, expression: Any = expression) -> Any:
            for converter in converters:
                value = converter(value, expression, conn)
            return value

        output = getattr(expression, "output_field", None)
        memo = output is not None and output.get_internal_type() in _MEMO_TYPES
        result.append((position, _remembering(convert) if memo else convert))
    return result


def _remembering(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    memo: dict[Any, Any] = {}

    def remembered(value: Any) -> Any:
        if value.__class__ is float and (value == 0 or value != value):
            return convert(value)  # 0.0 and -0.0 are one key but two decimals; NaN is no key
        try:
            return memo[value]
        except KeyError:
            pass
        except TypeError:  # an unhashable value
            return convert(value)
        converted = convert(value)
        if len(memo) >= MAX_MEMO:
            memo.clear()
        memo[value] = converted
        return converted

    return remembered


def prepared_read(build: Callable[..., QuerySet[Any, Any]]) -> PreparedRead:
    """Decorator form of :class:`PreparedRead`."""
    return PreparedRead(build)


# -- prepared writes ----------------------------------------------------------------------------

_WRITES: WeakKeyDictionary[Any, dict[tuple[object, ...], str]] = WeakKeyDictionary()


def _write_sql(conn: Any, key: tuple[object, ...], build: Callable[[], str]) -> str:
    """The statement of ``key`` on this connection, built the first time it is asked for."""
    statements = _WRITES.setdefault(conn, {})
    sql = statements.get(key)
    if sql is None:
        sql = statements[key] = build()
    return sql


def _insert_sql(
    conn: Any, key: tuple[object, ...], model: Any, fields: list[Any], returning: Any
) -> str:
    """``INSERT INTO table (fields) VALUES (%s, ...)``, reading back ``returning`` (a field) if
    it is given."""

    def build() -> str:
        qn = conn.ops.quote_name
        columns = ", ".join(qn(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608 - model metadata
        if returning is None:
            return sql
        ops: Any = conn.ops  # (the backends that can return columns define this)
        return f"{sql} {ops.return_insert_columns([returning])[0]}"

    return _write_sql(conn, (*key, model, *[f.attname for f in fields]), build)


def _insert_returning_key(conn: Any, sql: str, params: list[Any], auto: Any) -> Any:
    """Run an insert built with ``returning=auto``; the new key, converted as the ORM would."""
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        key = cursor.fetchone()[0]
    for converter in auto.get_db_converters(conn) + conn.ops.get_db_converters(auto.cached_col):
        key = converter(key, auto.cached_col, conn)
    return key


def insert_rows(objs: Sequence[Model], *, return_keys: bool = True) -> None:
    """Insert new instances of one model with one ``INSERT`` statement compiled once per
    connection, as ``bulk_create`` would insert them.

    Each field's ``pre_save`` (``auto_now_add``) and database preparation run as Django runs
    them, and instances related through a foreign key must be saved. With ``return_keys`` each
    row is inserted on its own and its primary key read back (``RETURNING``), as ``create``
    gives it; without, the rows go in one ``executemany`` and the instances keep ``pk = None``
    (for rows nothing reads back in the same transaction, such as check results).
    """
    if not objs:
        return
    model = type(objs[0])
    opts = model._meta
    if any(type(obj) is not model for obj in objs):
        raise TypeError("insert_rows: the instances must be of one model")
    if opts.parents or opts.proxy:
        raise TypeError(f"insert_rows: {opts.label} inherits another model; use the ORM")
    conn = connections[DEFAULT_DB_ALIAS]
    auto: Any = opts.auto_field
    if return_keys and (auto is None or not conn.features.can_return_columns_from_insert):
        raise TypeError(f"insert_rows: {opts.label}'s keys cannot be read back; use the ORM")
    # the fields bulk_create inserts: all but the database's own
    fields = [f for f in opts.concrete_fields if f is not auto and not f.generated]
    sql = _insert_sql(conn, ("insert",), model, fields, auto if return_keys else None)
    rows = []
    for obj in objs:
        if auto is not None and getattr(obj, auto.attname) is not None:
            raise ValueError(f"insert_rows: a {opts.label} that already has a key")
        # as bulk_create: a related instance must be saved; its key is taken if set since
        obj._prepare_related_fields_for_save(operation_name="insert_rows")  # type: ignore[attr-defined]
        params = _save_params(fields, [f.pre_save(obj, True) for f in fields], conn)
        if params is None:
            raise TypeError(f"insert_rows: a {opts.label} value needs the ORM (an expression?)")
        rows.append(params)
    if return_keys:
        for obj, params in zip(objs, rows, strict=True):
            setattr(obj, auto.attname, _insert_returning_key(conn, sql, params, auto))
    else:
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = conn.alias


class PreparedSaves(Model):
    """An abstract model base: ``save()`` (and so ``create()``) runs its ``UPDATE`` or ``INSERT``
    as a statement compiled once per connection and set of fields, not built and compiled by the ORM on
    every call (about 0.1-0.2 ms each, on the paths that save thousands of orders, lots and
    transactions a day in a backtest).

    Only the statement is prepared: ``save`` still decides between update and insert, runs each
    field's ``pre_save`` (``auto_now``), sends its signals, raises when ``update_fields`` finds no
    row, and sets the new primary key. Each value is prepared for the database as the ORM
    prepares it. A save the plain form does not cover goes to the ORM: a value that is an
    expression (``F("cash") + 1``) or an unsaved related instance, a raw save (fixtures), a model
    with more than one key column, ``select_on_save``, or a database-generated value other than
    the auto key.

    It replaces two internal methods of Django's ``Model`` as Django 5.2 defines them; where
    Django calls them with more arguments (a later release), it leaves every save to the ORM.
    """

    class Meta:
        abstract = True

    def _do_update(  # type: ignore[override]  # (the stubs describe a later Django)
        self,
        base_qs: Any,
        using: str,
        pk_val: Any,
        values: list[tuple[Any, Any, Any]],
        update_fields: Any,
        forced_update: Any,
        *later: Any,
    ) -> Any:
        opts = self._meta
        conn = connections[using]
        fields = [field for field, _, _ in values]
        params = (
            None
            if later
            or not values
            or opts.select_on_save
            or len(opts.pk_fields) != 1
            or base_qs.query.where
            else _save_params(fields, [value for _, _, value in values], conn)
        )
        if params is None:
            return super()._do_update(  # type: ignore[call-arg]
                base_qs, using, pk_val, values, update_fields, forced_update, *later
            )

        def build() -> str:
            qn = conn.ops.quote_name
            sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
            table = qn(opts.db_table)
            return f"UPDATE {table} SET {sets} WHERE {table}.{qn(str(opts.pk.column))} = %s"  # noqa: S608 - model metadata

        sql = _write_sql(conn, ("save-update", type(self), *[f.attname for f in fields]), build)
        params.append(opts.pk.get_db_prep_value(pk_val, connection=conn))
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return bool(cursor.rowcount > 0)

    def _do_insert(
        self, manager: Any, using: str, fields: list[Any], returning_fields: Any, raw: bool
    ) -> Any:
        opts = self._meta
        conn = connections[using]
        auto: Any = opts.auto_field
        plain = (
            not raw
            and fields
            and auto is not None
            and list(returning_fields) == [auto]
            and auto not in fields
            and conn.features.can_return_columns_from_insert
        )
        params = (
            _save_params(fields, [f.pre_save(self, True) for f in fields], conn) if plain else None
        )
        if params is None:
            return super()._do_insert(  # type: ignore[misc]  # (not in the stubs)
                manager, using, fields, returning_fields, raw
            )

        sql = _insert_sql(conn, ("save-insert",), type(self), fields, auto)
        key = _insert_returning_key(conn, sql, params, auto)
        return [(key,)]


def _save_params(fields: list[Any], values: list[Any], conn: Any) -> list[Any] | None:
    """The database values of a save, or None where the ORM must build the statement."""
    params = []
    for field, value in zip(fields, values, strict=True):
        if (
            hasattr(value, "resolve_expression")
            or hasattr(value, "prepare_database_save")
            or hasattr(field, "get_placeholder")
        ):
            return None
        params.append(field.get_db_prep_save(value, connection=conn))
    return params


__all__ = [
    "MAX_MEMO",
    "MAX_SHAPES",
    "PreparedRead",
    "PreparedSaves",
    "insert_rows",
    "prepared_read",
]
