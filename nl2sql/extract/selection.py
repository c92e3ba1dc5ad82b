"""Which source rows an extraction reads: ``--from``, ``--key``, ``--where``, ``--limit``.

The ``--where`` condition is parsed on its own (it must be one condition, not a
statement), placed into a query built as a syntax tree —
``SELECT key, CAST(text AS VARCHAR) FROM table WHERE <where> ORDER BY key [LIMIT n]`` —
and that query goes through :func:`nl2sql.safety.guard.check` against the catalog like any
other (functions that read files, unknown columns, subqueries into denied tables are
all refused, with the role's access policy applied). The guarded query then runs through
the same :class:`~nl2sql.safety.engine.Engine` as every other query: a confined,
read-only worker process under the query timeout and memory limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from nl2sql.catalog import Catalog
from nl2sql.errors import ConfigError, ExecutionError, QueryTimeout, UnsafeSQL
from nl2sql.schema.source import Source
from nl2sql.values import GuardedQuery

if TYPE_CHECKING:
    from nl2sql.safety.spark_engine import SparkEngine

NO_LIMIT = 10**15  # the guard always applies a row limit; this one never binds


@dataclass(frozen=True)
class Selection:
    """The rows to extract from, in key order, and how they were chosen."""

    sql: str
    rows: list[tuple[Any, str | None]]
    key_type: str


def split_from(value: str) -> tuple[str, str]:
    """``TABLE.COLUMN`` → (table, column).

    >>> split_from("reviews.review_text")
    ('reviews', 'review_text')
    """
    table, dot, column = value.strip().rpartition(".")
    if not dot or not table or not column:
        raise ConfigError(f"--from must be TABLE.COLUMN, not {value!r}")
    return table, column


def resolve_names(catalog: Catalog, table: str, column: str, key: str | None,
                  ) -> tuple[str, str, str]:
    """The catalog's spelling of table, text column and key (default: the primary key)."""
    found = catalog.table(table)
    if found is None:
        raise ConfigError(f"--from: no table {table!r} in {catalog.name}")
    text = found.column(column)
    if text is None:
        raise ConfigError(f"--from: table {found.name} has no column {column!r}")
    if key is None:
        if len(found.primary_key) != 1:
            raise ConfigError(f"--key is needed: {found.name} has no single-column primary key")
        key = found.primary_key[0]
    key_column = found.column(key)
    if key_column is None:
        raise ConfigError(f"--key: table {found.name} has no column {key!r}")
    if key_column.name == text.name:
        raise ConfigError("--key and the text column must differ")
    return found.name, text.name, key_column.name


def build_query(table: str, column: str, key: str, where: str | None, limit: int | None) -> str:
    """The selection as SQL, built on the syntax tree (``where`` parsed on its own)."""
    query = (exp.select(exp.column(key, quoted=True),
                        exp.cast(exp.column(column, quoted=True), exp.DataType.build("VARCHAR")))
             .from_(exp.to_table(table, quoted=True)))
    if where is not None and where.strip():
        query = query.where(parse_condition(where))
    query = query.order_by(exp.column(key, quoted=True))
    if limit is not None:
        query = query.limit(limit)
    return query.sql(dialect="duckdb")


def parse_condition(where: str) -> exp.Expr:
    """``--where`` as one boolean expression, or :class:`UnsafeSQL` saying why not
    (:class:`InvalidSQL`, a syntax error, when it is a condition with a typo)."""
    from nl2sql.safety.parse_errors import parse_failure

    try:
        parsed = sqlglot.parse(where, read="duckdb")
    except (ParseError, TokenError) as exc:
        raise parse_failure(where, exc, label="--where is not a valid condition",
                            condition=True) from exc
    statements = [p for p in parsed if p is not None]
    if len(statements) != 1:
        raise UnsafeSQL("--where must be one condition, not several statements", rule="parse")
    condition = statements[0]
    if not isinstance(condition, exp.Condition) or isinstance(condition, exp.Query):
        raise UnsafeSQL(f"--where must be a condition such as \"rating <= 2\", not a "
                        f"{condition.key.upper()} statement", rule="parse")
    return condition


def guarded(sql: str, catalog: Catalog, limit: int | None, access: Any) -> GuardedQuery:
    """The guard's verdict on the selection: a :class:`GuardedQuery` or an error."""
    from nl2sql.safety import guard

    return guard.check(sql, catalog, guard.Policy(row_limit=limit or NO_LIMIT), access=access)


def read_rows(source: Source, query: GuardedQuery, settings: Any) -> Selection:
    """Run the guarded selection through the :class:`~nl2sql.safety.engine.Engine`, the
    one execution path for guarded SQL (confined worker process, OS limits, timeout)."""
    from nl2sql.safety.engine import Engine, Limits
    from nl2sql.safety.server_engine import ServerEngine, pushdown_engine

    # Every selected row is extracted: the engine's row cap is the selection's own limit.
    limits = Limits.of(settings, max_rows=query.limit or NO_LIMIT)
    engine: Engine | ServerEngine | SparkEngine = (
        pushdown_engine(source, limits) if source.is_server
        else Engine(source, limits, settings.cache_dir))
    try:
        result = engine.run(query)
    except QueryTimeout as exc:
        raise QueryTimeout(f"selecting the rows took longer than {settings.query_timeout:g} s "
                           "(NL2SQL_QUERY_TIMEOUT)") from exc
    except ExecutionError as exc:
        raise ExecutionError(f"cannot select the rows: {exc.message}", sql=query.sql) from exc
    finally:
        engine.close()
    key_type = result.types[0] if result.types else "VARCHAR"
    rows = [(r[0], r[1]) for r in result.rows]
    seen: set[Any] = set()
    for key, _ in rows:
        if key is None:
            raise ConfigError("the key column has NULL values: choose a --key that identifies "
                              "every row")
        if key in seen:
            raise ConfigError(f"the key column is not unique (value {key!r} appears more than "
                              "once): choose a --key that identifies every row")
        seen.add(key)
    return Selection(sql=query.sql, rows=rows, key_type=key_type)
