"""Apache Spark through Spark Connect: the session, the catalog's tables, and a bounded
sample of each table for profiling.

The product needs only the thin client (``pip install 'nl2sql[spark]'``, no JVM). Questions
run on the server (:mod:`nl2sql.safety.spark_engine`); here is what introspection needs:

- tables, views, columns, types, comments and partition columns from Spark's catalog
  (``spark.catalog``), a view's SQL from ``SHOW CREATE TABLE`` (the access policy must know
  which tables a view reads);
- keys: Spark's file tables declare none, so nl2sql reads them from two table properties,
  ``nl2sql.primary_key`` (``col`` or ``col1,col2``) and ``nl2sql.foreign_keys``
  (``col->table.col``, several separated by spaces), which ``nl2sql sample-db --out sc://``
  writes and anyone may set (``ALTER TABLE t SET TBLPROPERTIES``): joins need them;
- profiles from a sample: at most :data:`SAMPLE_ROWS` rows per table through
  ``TABLESAMPLE`` and a ``LIMIT`` (Spark scans a table's files a few at a time until the
  limit is met, so a large table is never read whole), copied into an in-memory DuckDB
  database as Arrow, where the profiling and personal-data scanning code reads it unchanged.

The token in the URL is kept apart from the location (see :class:`Source`); messages show
the location only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import duckdb

from nl2sql.catalog import Column, ForeignKey, Table
from nl2sql.errors import ConfigError
from nl2sql.schema.source import Source, spark_client_url

SAMPLE_ROWS = 2000  # rows per table copied for profiling and scanning
CONNECT_TIMEOUT = 5.0  # seconds to reach the server before saying it cannot be reached
# How many rows the TABLESAMPLE fraction aims at: forty times what is kept, so a row-count
# estimate ten times too high still lets the LIMIT stop the scan early.
SAMPLE_AIM = 40 * SAMPLE_ROWS
BYTES_PER_ROW = 50  # a compressed Parquet row, for tables whose row count Spark does not know
PRIMARY_KEY_PROPERTY = "nl2sql.primary_key"
FOREIGN_KEYS_PROPERTY = "nl2sql.foreign_keys"

_SESSIONS: dict[tuple[str, str | None], Any] = {}
_LOCK = threading.Lock()


def session_for(source: Source) -> Any:
    """A Spark Connect session for ``source`` (one per process and source), its current
    database the URL's. ConfigError when the server cannot be reached."""
    key = (source.location, source.password)
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            return session
        _reachable(source)
        with warnings.catch_warnings(), _main_module_named():
            warnings.simplefilter("ignore")  # pyspark's own notes on pandas versions
            from pyspark.sql import SparkSession
            from pyspark.sql.connect.client.retries import DefaultPolicy
        _quiet_client_logs()
        try:
            session = SparkSession.builder.remote(spark_client_url(source)).create()
            # Give up on a dead server in seconds, not the client's default minutes.
            session.client.set_retry_policies([DefaultPolicy(
                max_retries=3, initial_backoff=200, max_backoff=2000,
                max_server_retry_delay=5000)])
            if source.schema:
                session.sql(f"USE {qualified(source.schema)}")
        except Exception as exc:  # noqa: BLE001 - the client's errors, told in one line
            raise connection_error(source, exc) from None
        _SESSIONS[key] = session
        return session


@contextlib.contextmanager
def _main_module_named() -> Iterator[None]:
    """pyspark's Spark Connect package, on import, takes a ``__main__`` without ``__file__``
    or ``__spec__`` for its own doctest runner and exits the process (``python -c``, a
    pytest-xdist worker): give it a name for the length of the import."""
    main = sys.modules.get("__main__")
    unnamed = (main is not None and getattr(main, "__spec__", None) is None
               and not hasattr(main, "__file__"))
    if unnamed:
        main.__file__ = "<nl2sql>"  # type: ignore[union-attr]
    try:
        yield
    finally:
        if unnamed:
            del main.__file__  # type: ignore[union-attr]


def _quiet_client_logs() -> None:
    """pyspark logs every failed query to stderr with the server's whole plan, which holds the
    executed SQL (with the mask key) and values: errors reach people as one line from
    :func:`describe_error`, and nothing else."""
    import logging

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger", "pyspark"):
        logging.getLogger(name).disabled = True


def _reachable(source: Source) -> None:
    """Fail in seconds, in one line, when nothing listens at the URL (the client would
    retry for minutes)."""
    host, _, port = source.location[len("sc://"):].split("/")[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 15002)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot connect to {source.location}: {reason}") from None


def forget(source: Source) -> None:
    """Drop the cached session (after the server went away: the next use reconnects)."""
    with _LOCK:
        session = _SESSIONS.pop((source.location, source.password), None)
        for key in [k for k in _MEMO if k[0] == source.location]:
            del _MEMO[key]
    if session is not None:
        try:
            session.client.close()
        except Exception:  # noqa: BLE001 - it is gone either way
            pass


def forget_all() -> None:
    """Close every cached session (before the server goes: the client would otherwise retry
    releasing them at exit)."""
    with _LOCK:
        sessions = list(_SESSIONS.values())
        _SESSIONS.clear()
        _MEMO.clear()
    for session in sessions:
        try:
            session.client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def describe_error(source: Source, exc: BaseException) -> str:
    """One line about a failed call, without the token or the JVM's plan and stack.

    >>> describe_error(Source("spark", "sc://h", "d"), RuntimeError(
    ...     "[TABLE_OR_VIEW_NOT_FOUND] The table `x` cannot be found. SQLSTATE: 42P01;\\n'Project"))
    '[TABLE_OR_VIEW_NOT_FOUND] The table `x` cannot be found.'
    """
    text = str(getattr(exc, "_message", None) or getattr(exc, "message", None) or exc)
    if "StatusCode.UNAVAILABLE" in text or "failed to connect" in text.lower():
        return "the server is unavailable (not running, or the connection was lost)"
    text = text.split("\n")[0]
    text = re.sub(r"\s*SQLSTATE: \w+;?.*$", "", text)
    text = re.sub(r"\s*JVM stacktrace:.*$", "", text)
    if source.password:
        text = text.replace(source.password, "***")
    return " ".join(text.split())[:300]


def connection_error(source: Source, exc: BaseException) -> ConfigError:
    return ConfigError(f"cannot connect to {source.location}: {describe_error(source, exc)}")


def quote(name: str) -> str:
    """A Spark identifier in backquotes.

    >>> quote("order items"), quote("a`b")
    ('`order items`', '`a``b`')
    """
    return "`" + name.replace("`", "``") + "`"


def qualified(name: str) -> str:
    """A database name, ``catalog.database`` too, as Spark reads it.

    >>> qualified("lake.sales"), qualified("shop")
    ('`lake`.`sales`', '`shop`')
    """
    return ".".join(quote(part) for part in name.split("."))


# ---------------------------------------------------------------------------- the catalog


# One introspection asks the catalog the same things several times (the fingerprint, the
# reflection, the sample): answers are kept for a few seconds, per process, so a cold start
# costs one round trip per fact instead of three. Long enough for one start, too short to
# hide a change from the next command.
_MEMO_SECONDS = 10.0
_MEMO: dict[tuple[str, str, str], tuple[float, Any]] = {}


def _memo(source: Source, kind: str, name: str, fetch: Any) -> Any:
    key = (source.location, kind, name)
    now = time.monotonic()
    with _LOCK:
        hit = _MEMO.get(key)
    if hit is not None and now - hit[0] < _MEMO_SECONDS:
        return hit[1]
    value = fetch()
    with _LOCK:
        _MEMO[key] = (now, value)
    return value


def forget_catalog() -> None:
    """Drop the kept catalog answers (what a new process starts without)."""
    with _LOCK:
        _MEMO.clear()


def _tables(source: Source) -> list[Any]:
    spark = session_for(source)
    try:
        return list(_memo(source, "tables", "", lambda: [
            t for t in spark.catalog.listTables() if not t.isTemporary]))
    except Exception as exc:  # noqa: BLE001
        raise connection_error(source, exc) from None


def _columns(source: Source, table: str) -> list[Any]:
    return list(_memo(source, "columns", table,
                      lambda: list(session_for(source).catalog.listColumns(table))))


def _properties(source: Source, table: str) -> dict[str, str]:
    def fetch() -> dict[str, str]:
        rows = session_for(source).sql(f"SHOW TBLPROPERTIES {quote(table)}").collect()
        return {str(r[0]): str(r[1]) for r in rows}

    return dict(_memo(source, "properties", table, fetch))


def fingerprint(source: Source) -> str:
    """A hash of the database's tables, columns, types, comments and key properties: what
    tells a warm start whether its cached catalog still holds."""
    facts: list[Any] = []
    try:
        for table in sorted(_tables(source), key=lambda t: t.name):
            columns = [(c.name, c.dataType, c.description, c.isPartition)
                       for c in _columns(source, table.name)]
            keys = {k: v for k, v in _properties(source, table.name).items()
                    if k.startswith("nl2sql.")}
            facts.append([table.name, table.tableType, table.description, columns, keys])
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise connection_error(source, exc) from None
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:32]


def reflect(source: Source) -> dict[str, Table]:
    """Tables and views with columns (types as DuckDB names them), comments, partition
    columns, keys (from the table properties) and each view's SQL."""
    out: dict[str, Table] = {}
    try:
        for entry in _tables(source):
            properties = _properties(source, entry.name)
            primary = [c.strip() for c in properties.get(PRIMARY_KEY_PROPERTY, "").split(",")
                       if c.strip()]
            columns = [Column(name=c.name, type=duck_type(c.dataType), nullable=bool(c.nullable),
                              comment=c.description or None, primary_key=c.name in primary,
                              partition=bool(c.isPartition))
                       for c in _columns(source, entry.name)]
            is_view = str(entry.tableType).upper() == "VIEW"
            out[entry.name] = Table(
                name=entry.name, columns=columns, kind="view" if is_view else "table",
                primary_key=primary, foreign_keys=foreign_keys(
                    properties.get(FOREIGN_KEYS_PROPERTY, "")),
                comment=entry.description or None,
                definition=_view_sql(source, entry.name) if is_view else None)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise connection_error(source, exc) from None
    return out


def foreign_keys(text: str) -> list[ForeignKey]:
    """Keys from the ``nl2sql.foreign_keys`` property; anything unreadable is left out
    (a wrong key would join the wrong rows).

    >>> [(k.columns, k.ref_table, k.ref_columns) for k in foreign_keys(
    ...     "customer_id->customers.customer_id a,b->t.x,y bad")]
    [(['customer_id'], 'customers', ['customer_id']), (['a', 'b'], 't', ['x', 'y'])]
    """
    keys = []
    for part in text.split():
        match = re.fullmatch(r"([\w,]+)->(\w+)\.([\w,]+)", part)
        if not match:
            continue
        here, there = match.group(1).split(","), match.group(3).split(",")
        if len(here) == len(there):
            keys.append(ForeignKey(columns=here, ref_table=match.group(2), ref_columns=there))
    return keys


def _view_sql(source: Source, name: str) -> str | None:
    """The view's query, as Spark SQL (the catalog's dialect), from SHOW CREATE TABLE."""
    import sqlglot

    try:
        text = str(session_for(source).sql(f"SHOW CREATE TABLE {quote(name)}").collect()[0][0])
        tree = sqlglot.parse_one(text, read="spark")
    except Exception:  # noqa: BLE001 - a view Spark cannot show: the policy treats it as opaque
        return None
    query = tree.expression if hasattr(tree, "expression") else None
    return query.sql(dialect="spark") if query is not None else None


# Spark's type names -> DuckDB's (what the guard, drafter and profiles understand).
_TYPES = {
    "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR", "int": "INTEGER",
    "integer": "INTEGER", "bigint": "BIGINT", "long": "BIGINT", "smallint": "SMALLINT",
    "short": "SMALLINT", "tinyint": "TINYINT", "byte": "TINYINT", "double": "DOUBLE",
    "float": "REAL", "real": "REAL", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ltz": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP", "binary": "BLOB", "void": "VARCHAR",
}


def duck_type(spark_type: str) -> str:
    """The DuckDB name of a Spark column type (nested types are described as text).

    >>> duck_type("decimal(10,2)"), duck_type("timestamp_ntz"), duck_type("array<string>")
    ('DECIMAL(10,2)', 'TIMESTAMP', 'VARCHAR')
    """
    text = spark_type.strip().lower()
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", text)
    if decimal:
        return f"DECIMAL({decimal.group(1)},{decimal.group(2)})"
    return _TYPES.get(re.split(r"[(<]", text, maxsplit=1)[0], "VARCHAR")


# ---------------------------------------------------------------------------- the sample


def row_counts(source: Source) -> dict[str, int]:
    """Spark's own statistics of each table's rows, where it keeps them (``ANALYZE TABLE``,
    Delta); tables without are left out."""
    return {name: rows for name, (_size, rows) in _statistics(source).items() if rows is not None}


def _statistics(source: Source) -> dict[str, tuple[int | None, int | None]]:
    """(bytes, rows) per table from ``DESCRIBE TABLE EXTENDED``'s Statistics line."""
    out: dict[str, tuple[int | None, int | None]] = {}
    spark = session_for(source)
    for entry in _tables(source):
        if str(entry.tableType).upper() == "VIEW":
            continue
        try:
            rows = spark.sql(f"DESCRIBE TABLE EXTENDED {quote(entry.name)}").collect()
        except Exception:  # noqa: BLE001 - no statistics: sampled with a plain limit
            continue
        line = next((str(r[1]) for r in rows if str(r[0]).strip() == "Statistics"), "")
        size = re.search(r"(\d+) bytes", line)
        count = re.search(r"(\d+) rows", line)
        out[entry.name] = (int(size.group(1)) if size else None,
                           int(count.group(1)) if count else None)
    return out


def sample_clause(size: int | None, rows: int | None) -> str:
    """The TABLESAMPLE for a table of ``size`` bytes and ``rows`` rows (either may be
    unknown): none for a small table, else a fraction aiming at :data:`SAMPLE_AIM` rows.

    >>> sample_clause(None, 10_000_000), sample_clause(10**9, None), sample_clause(5_000, 100)
    (' TABLESAMPLE (0.8000 PERCENT)', ' TABLESAMPLE (0.4000 PERCENT)', '')
    """
    estimate = rows if rows is not None else (size // BYTES_PER_ROW if size else None)
    if estimate is None or estimate <= SAMPLE_AIM:
        return ""
    return f" TABLESAMPLE ({100.0 * SAMPLE_AIM / estimate:.4f} PERCENT)"


def sample_connection(source: Source) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose database ``source.alias`` holds at most
    :data:`SAMPLE_ROWS` rows of each of the server's tables and views."""
    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    con.execute(f"ATTACH ':memory:' AS {_duck_ident(source.alias)}")
    con.execute(f"USE {_duck_ident(source.alias)}")
    spark = session_for(source)
    try:
        statistics = _statistics(source)
        for entry in _tables(source):
            size, rows = statistics.get(entry.name, (None, None))
            select = (f"SELECT * FROM {quote(entry.name)}{sample_clause(size, rows)} "
                      f"LIMIT {SAMPLE_ROWS}")
            try:
                arrow = spark.sql(select).toArrow()
            except Exception as exc:  # noqa: BLE001
                if "unavailable" in describe_error(source, exc):
                    raise
                continue  # a table this login may not read: listed, not profiled
            con.register("nl2sql_sample", arrow)
            try:
                con.execute(f"CREATE TABLE {_duck_ident(entry.name)} AS "
                            "SELECT * FROM nl2sql_sample")
            except duckdb.Error:
                pass  # a value DuckDB cannot hold: the table is profiled empty, never guessed
            finally:
                con.unregister("nl2sql_sample")
    except ConfigError:
        con.close()
        raise
    except Exception as exc:  # noqa: BLE001
        con.close()
        raise connection_error(source, exc) from None
    return con


def _duck_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
