"""Stage 7 on a server: run an accepted query on PostgreSQL or MySQL/MariaDB (push-down;
Spark's engine is :mod:`nl2sql.safety.spark_engine`, which shares :func:`transpile`).

The guard checked, and the access policy rewrote, the query as a DuckDB syntax tree; here
sqlglot transpiles that tree's SQL to the server's dialect and the server runs it:

- read-only on the server, not only in the guard: every query runs in a read-only
  transaction (``SET TRANSACTION READ ONLY`` / ``START TRANSACTION READ ONLY``) that is
  rolled back afterwards;
- under the server's own statement timeout, set from ``NL2SQL_QUERY_TIMEOUT``
  (``statement_timeout``; MariaDB ``max_statement_time``, MySQL ``max_execution_time``):
  the server stops the query itself;
- Ctrl-C cancels the query on the server (PostgreSQL's cancel request; ``KILL QUERY`` from
  a second connection on MySQL), it is not merely abandoned;
- rows are fetched in batches, up to the row limit and the result-size cap;
- connections come from a pool per process (:func:`nl2sql.schema.server.engine_for`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.spark import Spark

from nl2sql.errors import ExecutionError, Interrupted, QueryTimeout
from nl2sql.safety.engine import Limits
from nl2sql.schema import server
from nl2sql.schema.source import Source
from nl2sql.values import GuardedQuery, Result

if TYPE_CHECKING:
    from nl2sql.safety.spark_engine import SparkEngine

BATCH = 500  # rows per fetch


def transpile(duck_sql: str, kind: str) -> str:
    """The server's text for a query the guard accepted in DuckDB's dialect.

    >>> print(transpile("SELECT strpos(email, '@') AS at FROM customers LIMIT 5", "mysql"))
    SELECT LOCATE('@', email) AS at FROM customers LIMIT 5
    >>> print(transpile("SELECT count(*) FILTER (WHERE vip) AS n FROM c", "mysql"))
    SELECT COUNT(CASE WHEN vip THEN 1 END) AS n FROM c
    """
    try:
        tree = sqlglot.parse_one(duck_sql, read="duckdb")
        for select in tree.find_all(exp.Select):
            _order_by_names(select)
        tree = _portable(tree, kind)
        return tree.sql(dialect=_DIALECT[kind], unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as exc:
        raise ExecutionError(f"this query cannot be written in {kind}'s SQL: "
                             f"{' '.join(str(exc).split())[:200]}") from None


class _Postgres(Postgres):
    """PostgreSQL, with DuckDB's ``sha256(text)`` (a hex digest of the UTF-8 bytes)."""

    class Generator(Postgres.Generator):  # type: ignore[valid-type,misc]
        TRANSFORMS = {**Postgres.Generator.TRANSFORMS,
                      exp.SHA2: lambda self, e: (
                          f"ENCODE(SHA256(CONVERT_TO({self.sql(e, 'this')}, 'UTF8')), 'hex')"),
                      exp.Quarter: lambda self, e: f"EXTRACT(QUARTER FROM {self.sql(e, 'this')})"}


class _MySQL(MySQL):
    """MySQL and MariaDB: ``x REGEXP p`` (MariaDB has no ``REGEXP_LIKE``)."""

    class Generator(MySQL.Generator):  # type: ignore[valid-type,misc]
        TRANSFORMS = {**MySQL.Generator.TRANSFORMS,
                      exp.RegexpLike: lambda self, e: self.binary(e, "REGEXP")}


class _Spark(Spark):
    """Spark SQL: DuckDB's ``sha256(text)`` is ``sha2(text, 256)`` (a lower-case hex digest of
    the UTF-8 bytes, as DuckDB's)."""

    class Generator(Spark.Generator):  # type: ignore[valid-type,misc]
        TRANSFORMS = {**Spark.Generator.TRANSFORMS,
                      exp.SHA2: lambda self, e: f"SHA2({self.sql(e, 'this')}, 256)"}


_DIALECT: dict[str, type[sqlglot.Dialect]] = {"postgres": _Postgres, "mysql": _MySQL,
                                              "spark": _Spark}


def pushdown_engine(source: Source, limits: Limits) -> ServerEngine | SparkEngine:
    """The engine that runs ``source``'s queries on its server."""
    if source.kind == "spark":
        from nl2sql.safety.spark_engine import SparkEngine

        return SparkEngine(source, limits)
    return ServerEngine(source, limits)


def _portable(tree: exp.Expr, kind: str) -> exp.Expr:
    """DuckDB's forms the target does not have, as forms it does (on the tree)."""
    # The guard accepted only the source's own names ("shop.main.customers"): on the server
    # they are its tables in the connection's database and schema, unqualified.
    for name in tree.find_all(exp.Table, exp.Column):
        name.set("catalog", None)
        name.set("db", None)
    if kind == "mysql" and any(True for _ in _to_json_calls(tree)):
        raise sqlglot.errors.UnsupportedError("a whole row as JSON (to_json)")
    if kind == "postgres":  # PostgreSQL's regular expressions spell a word boundary \y
        for regex in tree.find_all(exp.RegexpLike, exp.RegexpReplace, exp.RegexpExtract,
                                   exp.RegexpILike, exp.RegexpSplit):
            pattern = regex.args.get("expression")
            if isinstance(pattern, exp.Literal) and pattern.is_string:
                regex.set("expression", exp.Literal.string(postgres_regex(str(pattern.this))))
    if kind in ("mysql", "spark"):  # every match is replaced; Spark's 4th argument is a position
        _global_replacements(tree)
    if kind == "spark":
        _spark_whole_rows(tree)
    if kind == "mysql":
        for translated in list(tree.find_all(exp.Translate)):  # MariaDB has no TRANSLATE
            translated.replace(_replacements(translated))
        for node in list(tree.find_all(exp.Filter)):  # COUNT(*) FILTER (WHERE c)
            node.replace(_filtered_aggregate(node))
    return tree


def postgres_regex(pattern: str) -> str:
    r"""A DuckDB (RE2) pattern as PostgreSQL's regular expressions read it: ``\b`` is a
    word boundary in RE2 but a backspace in PostgreSQL, whose word boundary is ``\y``
    (everything else the redaction patterns use means the same in both).

    >>> print(postgres_regex(r"\b(?:Street|Road)\b and \\b stays"))
    \y(?:Street|Road)\y and \\b stays
    """
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            pair = pattern[i:i + 2]
            out.append("\\y" if pair == "\\b" else pair)
            i += 2
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _replacements(node: exp.Translate) -> exp.Expr:
    """``translate(x, 'ab', 'xy')`` as ``REPLACE(REPLACE(x, 'a', 'x'), 'b', 'y')`` (characters
    of ``from`` beyond ``to`` are deleted, as TRANSLATE does)."""
    source, target = node.args.get("from_"), node.args.get("to")
    if not (isinstance(source, exp.Literal) and isinstance(target, exp.Literal)):
        raise sqlglot.errors.UnsupportedError("translate with computed characters")
    out: exp.Expr = node.this.copy()
    for i, char in enumerate(str(source.this)):
        replacement = str(target.this)[i] if i < len(str(target.this)) else ""
        out = exp.Anonymous(this="REPLACE", expressions=[
            out, exp.Literal.string(char), exp.Literal.string(replacement)])
    return out


def _filtered_aggregate(node: exp.Filter) -> exp.Expr:
    """``agg(x) FILTER (WHERE c)`` as ``agg(CASE WHEN c THEN x END)``: NULLs are skipped by
    every aggregate, so the rows that fail ``c`` count for nothing, as with FILTER."""
    aggregate = node.this.copy()
    where = node.expression
    condition = where.this if isinstance(where, exp.Where) else where
    argument = aggregate.this
    if isinstance(argument, exp.Star) or argument is None:
        argument = exp.Literal.number(1)
    distinct = isinstance(argument, exp.Distinct)
    inner = argument.expressions[0] if distinct else argument
    case = exp.Case(ifs=[exp.If(this=condition.copy(), true=inner.copy())])
    aggregate.set("this", exp.Distinct(expressions=[case]) if distinct else case)
    return aggregate


def _to_json_calls(tree: exp.Expr) -> Iterator[tuple[exp.Expr, exp.Expr | None]]:
    """Every ``to_json(x)`` in ``tree`` (sqlglot reads it as JSONFormat or by name), with x."""
    for call in tree.find_all(exp.JSONFormat, exp.Anonymous):
        if isinstance(call, exp.JSONFormat):
            yield call, call.this
        elif str(call.this).lower() == "to_json":
            yield call, call.expressions[0] if call.expressions else None


def _spark_whole_rows(tree: exp.Expr) -> None:
    """``to_json(t)`` of a whole row (a table's alias) is ``TO_JSON(STRUCT(t.*))`` in Spark,
    its times written as DuckDB writes them.

    >>> print(transpile("SELECT to_json(p) AS j FROM products AS p", "spark"))
    SELECT TO_JSON(STRUCT(p.*), MAP('timestampFormat', 'yyyy-MM-dd HH:mm:ss')) AS j FROM products AS p
    """
    tables = {t.alias_or_name for t in tree.find_all(exp.Table)}
    tables |= {q.alias for q in tree.find_all(exp.Subquery) if q.alias}  # secure views
    for call, argument in list(_to_json_calls(tree)):
        if not (isinstance(argument, exp.Column) and not argument.table
                and argument.name in tables):
            continue
        row = exp.Struct(expressions=[exp.Column(this=exp.Star(), table=exp.to_identifier(
            argument.name))])
        options = exp.Anonymous(this="MAP", expressions=[
            exp.Literal.string("timestampFormat"), exp.Literal.string("yyyy-MM-dd HH:mm:ss")])
        call.replace(exp.Anonymous(this="TO_JSON", expressions=[row, options]))


def _global_replacements(tree: exp.Expr) -> None:
    """``regexp_replace(x, p, r, 'g')``: MySQL and MariaDB replace every match already and
    take no flags argument."""
    for node in tree.find_all(exp.RegexpReplace):
        flags = node.args.get("modifiers")
        if isinstance(flags, exp.Literal) and flags.this == "g":
            node.set("modifiers", None)
        elif flags is not None:
            raise sqlglot.errors.UnsupportedError(f"regexp_replace flags {flags.sql()!r}")


def _order_by_names(select: exp.Select) -> None:
    """``ORDER BY 2`` names the output column instead: DuckDB puts NULLs last, and sqlglot
    can say so on MySQL only for a named expression, not for a position."""
    order = select.args.get("order")
    if order is None:
        return
    projections = select.expressions
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int and 1 <= int(key.this) <= len(projections):
            chosen = projections[int(key.this) - 1]
            ordered.set("this", exp.column(chosen.alias, quoted=True)
                        if isinstance(chosen, exp.Alias) else chosen.copy())


class ServerEngine:
    """Runs accepted queries on the server a :class:`Source` names (see the module)."""

    def __init__(self, source: Source, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.warning: str | None = None  # said once per session: the login could write
        self._flavour: str | None = None  # "mariadb" | "mysql" | "postgres"

    def start(self) -> None:
        """Check, once, whether the login could write: nl2sql never writes, but a read-only
        role is the wall that holds even if everything else failed."""
        try:
            self.warning = self._write_warning()
        except Exception:  # noqa: BLE001 - a check that cannot run is no reason to refuse
            self.warning = None

    def close(self) -> None:
        """The pool stays for the process (another session may use it)."""

    def run(self, query: GuardedQuery, timeout: float | None = None) -> Result:
        left = self.limits.time_left(timeout)
        sql = transpile(query.executed_sql or query.sql, self.source.kind)
        started = time.perf_counter()
        columns, types, rows, truncated = self._execute(sql, left, query)
        elapsed = (time.perf_counter() - started) * 1000
        truncated = truncated or (query.limited and len(rows) >= (query.limit or 0))
        return Result(columns=columns, types=types, rows=rows, elapsed_ms=round(elapsed, 2),
                      truncated=truncated)

    def explain(self, query: GuardedQuery) -> str:
        """The server's plan for an accepted query (never the mask key: the shown SQL)."""
        sql = "EXPLAIN " + transpile(query.shown_sql(), self.source.kind)
        _, _, rows, _ = self._execute(sql, self.limits.timeout, query)
        return "\n".join(" ".join(str(v) for v in row) for row in rows)

    # ------------------------------------------------------------------ running

    def _execute(self, sql: str, left: float, query: GuardedQuery
                 ) -> tuple[list[str], list[str], list[tuple[Any, ...]], bool]:
        import sqlalchemy as sa

        try:
            raw = server.engine_for(self.source).raw_connection()
        except sa.exc.SQLAlchemyError as exc:
            raise ExecutionError(f"cannot reach {self.source.location}: "
                                 f"{server.describe_error(self.source, exc)}") from None
        ok = False
        try:
            cursor = raw.cursor()
            self._begin(cursor, left)
            try:
                cursor.execute(sql)
                out = self._fetch(cursor)
            except KeyboardInterrupt:
                self._cancel(raw)
                raise Interrupted("interrupted; the query was cancelled on the server") from None
            raw.rollback()  # read-only: nothing to keep, and the transaction ends here
            ok = True
            return out
        except (Interrupted, ExecutionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a driver error, told in one line
            raise self._error(exc, left, query) from None
        finally:
            if ok:
                raw.close()  # back to the pool
            else:
                raw.invalidate()  # its state is unknown: never reused

    def _begin(self, cursor: Any, left: float) -> None:
        millis = max(1, int(left * 1000))
        if self.source.kind == "postgres":
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {millis}")
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = "
                           f"{millis + 5000}")
            return
        if self._flavour_of(cursor) == "mariadb":
            cursor.execute(f"SET SESSION max_statement_time = {left:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {millis}")
        # DDL commits the open transaction implicitly and would run outside it: the session
        # itself is read-only too, which refuses DDL as well.
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.execute("START TRANSACTION READ ONLY")

    def _flavour_of(self, cursor: Any) -> str:
        if self._flavour is None:
            if self.source.kind == "postgres":
                self._flavour = "postgres"
            else:
                cursor.execute("SELECT VERSION()")
                version = str(cursor.fetchone()[0])
                self._flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
        return self._flavour

    def _fetch(self, cursor: Any) -> tuple[list[str], list[str], list[tuple[Any, ...]], bool]:
        columns = [d[0] for d in cursor.description or []]
        rows: list[tuple[Any, ...]] = []
        size = 0
        while len(rows) <= self.limits.max_rows:
            batch = cursor.fetchmany(BATCH)
            if not batch:
                break
            for row in batch:
                size += sum(sys.getsizeof(v) for v in row)
            if size > self.limits.max_bytes:
                raise ExecutionError("the result is larger than allowed "
                                     "(NL2SQL_MAX_RESULT_BYTES); select fewer or shorter values, "
                                     "or fewer rows")
            rows.extend(tuple(r) for r in batch)
        truncated = len(rows) > self.limits.max_rows
        rows = rows[: self.limits.max_rows]
        return columns, _types(rows, len(columns)), rows, truncated

    def _cancel(self, raw: Any) -> None:
        """Stop the query on the server, not just here."""
        driver = raw.driver_connection
        try:
            if self.source.kind == "postgres":
                driver.cancel_safe(timeout=3.0) if hasattr(driver, "cancel_safe") else driver.cancel()
                return
            thread = driver.thread_id()
            with server.engine_for(self.source).connect() as other:
                import sqlalchemy as sa

                other.execute(sa.text(f"KILL QUERY {int(thread)}"))
        except Exception:  # noqa: BLE001 - the server's own statement timeout still holds
            pass

    def _error(self, exc: BaseException, left: float, query: GuardedQuery) -> Exception:
        text = server.describe_error(self.source, exc)
        lowered = text.lower()
        if any(word in lowered for word in ("statement timeout", "canceling statement due to",
                                            "max_statement_time", "max_execution_time",
                                            "maximum statement execution time")):
            return QueryTimeout(f"the query ran longer than {self.limits.timeout:g} s (NL2SQL_QUERY_TIMEOUT) "
                                "and the server stopped it")
        return ExecutionError(f"{self.source.kind}: {text}", sql=query.sql)

    # ------------------------------------------------------------------ the login's rights

    def _write_warning(self) -> str | None:
        import sqlalchemy as sa

        if self.source.kind == "postgres":
            check = sa.text(
                "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                "OR has_database_privilege(current_database(), 'CREATE') "
                "OR EXISTS (SELECT 1 FROM information_schema.table_privileges "
                "WHERE grantee = current_user AND privilege_type IN "
                "('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'))")
            with server.engine_for(self.source).connect() as conn:
                can_write = bool(conn.execute(check).scalar())
        else:
            with server.engine_for(self.source).connect() as conn:
                grants = " ".join(str(r[0]).upper() for r in conn.execute(sa.text("SHOW GRANTS")))
            can_write = any(word in grants for word in ("ALL PRIVILEGES", "INSERT", "UPDATE",
                                                        "DELETE", "CREATE", "DROP"))
        if not can_write:
            return None
        return (f"the login for {self.source.alias} can write to the database; nl2sql only "
                "reads, but a read-only role is safer (docs/configuration.md)")


def _types(rows: list[tuple[Any, ...]], width: int) -> list[str]:
    """Column types from the values (drivers describe types by numbers of their own)."""
    out = []
    for i in range(width):
        value = next((r[i] for r in rows if r[i] is not None), None)
        out.append(_type_of(value))
    return out


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, decimal.Decimal):
        return "DECIMAL"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    return "VARCHAR"
