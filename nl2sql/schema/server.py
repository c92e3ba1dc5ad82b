"""Server databases (PostgreSQL, MySQL/MariaDB; Spark in :mod:`nl2sql.schema.spark`, to
which the public functions here hand a Spark source): connections, a schema fingerprint, and a
bounded sample of each table for profiling.

Questions are answered on the server itself (:mod:`nl2sql.safety.server_engine`). What
introspection needs beyond SQLAlchemy's reflection — row counts, distinct counts, frequent
values, the personal-data scanner's values — comes from a **sample**: at most
:data:`SAMPLE_ROWS` rows per table, copied into an in-memory DuckDB database under the
source's alias, so the profiling and scanning code that reads files reads it unchanged, and
a 100-million-row table profiles in the time of one bounded read, never a full scan.

Passwords: a :class:`Source` holds its password apart from its location; only
:func:`engine_for` puts it back, into a SQLAlchemy ``URL`` object, and every message here
shows ``source.location`` (password hidden).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.errors import ConfigError
from nl2sql.schema.source import Source

SAMPLE_ROWS = 2000  # rows per table copied for profiling and scanning
CONNECT_TIMEOUT = 5  # seconds to reach a server before saying it cannot be reached
_ENGINES: dict[tuple[str, str | None], Any] = {}
_LOCK = threading.Lock()


def engine_for(source: Source) -> Any:
    """A pooled SQLAlchemy engine for ``source`` (one per process and source)."""
    import sqlalchemy as sa

    key = (source.location, source.password)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
            if source.kind == "postgres" and source.schema:
                connect_args["options"] = f"-c search_path={_ident(source.schema)}"
            engine = sa.create_engine(source.sqlalchemy_url, connect_args=connect_args,
                                      pool_pre_ping=True, pool_size=2, max_overflow=2)
            _ENGINES[key] = engine
    return engine


def describe_error(source: Source, exc: BaseException) -> str:
    """One line about a failed connection or query, without the password."""
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if source.password:
        text = text.replace(source.password, "***")
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    return text[:300]


def connection_error(source: Source, exc: BaseException) -> ConfigError:
    return ConfigError(f"cannot connect to {source.location}: {describe_error(source, exc)}")


def fingerprint(source: Source) -> str:
    """A hash of the server's tables, columns, types and constraints in the source's schema:
    one round trip, so a warm start knows whether its cached catalog still holds."""
    if source.kind == "spark":
        from nl2sql.schema import spark

        return spark.fingerprint(source)
    import sqlalchemy as sa


    if source.kind == "postgres":
        schema_expr = "current_schema()"
    else:
        schema_expr = "database()"
    columns = sa.text(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        f"WHERE table_schema = {schema_expr} ORDER BY 1, 2")
    constraints = sa.text(
        "SELECT table_name, constraint_name, constraint_type FROM "
        f"information_schema.table_constraints WHERE table_schema = {schema_expr} ORDER BY 1, 2")
    try:
        with engine_for(source).connect() as conn:
            rows = [list(r) for r in conn.execute(columns)]
            rows += [list(r) for r in conn.execute(constraints)]
    except sa.exc.SQLAlchemyError as exc:
        raise connection_error(source, exc) from None
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:32]


def sample_connection(source: Source) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose database ``source.alias`` holds at most
    :data:`SAMPLE_ROWS` rows of each of the server's tables and views (same names, columns
    and comparable types). Read-only on the server: a bounded ``SELECT`` per table."""
    if source.kind == "spark":
        from nl2sql.schema import spark

        return spark.sample_connection(source)
    import sqlalchemy as sa
    from sqlalchemy.engine.reflection import ObjectKind

    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    con.execute(f"ATTACH ':memory:' AS {_ident(source.alias)}")
    con.execute(f"USE {_ident(source.alias)}")
    try:
        engine = engine_for(source)
        inspector = sa.inspect(engine)
        columns = inspector.get_multi_columns(schema=source.schema, kind=ObjectKind.ANY)
        sizes = row_counts(source)
        with engine.connect() as conn:
            preparer = engine.dialect.identifier_preparer
            for (_schema, table), cols in columns.items():
                names = [c["name"] for c in cols]
                types = [duck_type(str(_compiled(c["type"], engine))) for c in cols]
                _create(con, table, names, types)
                select = (f"SELECT {', '.join(preparer.quote(n) for n in names)} "
                          f"FROM {preparer.quote(table)}{_sampled(source, sizes.get(table))} "
                          f"LIMIT {SAMPLE_ROWS}")
                try:
                    rows = conn.execute(sa.text(select)).fetchall()
                except (sa.exc.ProgrammingError, sa.exc.OperationalError) as exc:
                    if _is_connection_error(exc):
                        raise
                    conn.rollback()  # a table this login may not read: listed, not profiled
                    continue
                _insert(con, table, names, types, rows)
    except sa.exc.SQLAlchemyError as exc:
        con.close()
        raise connection_error(source, exc) from None
    return con


def _sampled(source: Source, rows: int | None) -> str:
    """On PostgreSQL, a big table's rows come from all over it (``TABLESAMPLE SYSTEM``:
    whole pages, chosen at random), not its first pages; MySQL has no such clause, and
    reads the first rows.

    >>> _sampled(Source("postgres", "u", "db"), 10_000_000)
    ' TABLESAMPLE SYSTEM (0.08)'
    >>> _sampled(Source("postgres", "u", "db"), 5_000), _sampled(Source("mysql", "u", "db"), 10**9)
    ('', '')
    """
    if source.kind != "postgres" or rows is None or rows <= 20 * SAMPLE_ROWS:
        return ""
    percent = min(100.0, 400.0 * SAMPLE_ROWS / rows)  # four times what is kept, in pages
    return f" TABLESAMPLE SYSTEM ({percent:.2f})"


def _is_connection_error(exc: BaseException) -> bool:
    return bool(getattr(exc, "connection_invalidated", False))


def row_counts(source: Source) -> dict[str, int]:
    """The server's own estimate of each table's rows (statistics, not a count)."""
    if source.kind == "spark":
        from nl2sql.schema import spark

        return spark.row_counts(source)
    import sqlalchemy as sa


    if source.kind == "postgres":
        query = ("SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n "
                 "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                 "AND c.relkind IN ('r', 'p')")
    else:
        query = ("SELECT table_name, table_rows FROM information_schema.tables "
                 "WHERE table_schema = database()")
    try:
        with engine_for(source).connect() as conn:
            return {str(name): int(n) for name, n in conn.execute(sa.text(query))
                    if n is not None and int(n) >= 0}
    except sa.exc.SQLAlchemyError:
        return {}


def _compiled(sa_type: Any, engine: Any) -> str:
    try:
        return str(sa_type.compile(dialect=engine.dialect))
    except Exception:  # noqa: BLE001 - an exotic type: profiled as text
        return "VARCHAR"


# Server type names -> DuckDB's, by their first word; anything else is profiled as text.
_TYPES = {
    "INTEGER": "INTEGER", "INT": "INTEGER", "SMALLINT": "SMALLINT", "TINYINT": "TINYINT",
    "MEDIUMINT": "INTEGER", "BIGINT": "BIGINT", "SERIAL": "INTEGER", "BIGSERIAL": "BIGINT",
    "REAL": "REAL", "FLOAT": "DOUBLE", "DOUBLE": "DOUBLE", "NUMERIC": "DECIMAL(38, 6)",
    "DECIMAL": "DECIMAL(38, 6)", "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP", "DATETIME": "TIMESTAMP", "TIME": "TIME", "UUID": "UUID",
}


def duck_type(server_type: str) -> str:
    """The DuckDB type a server column's values are profiled as.

    >>> duck_type("TIMESTAMP WITHOUT TIME ZONE"), duck_type("VARCHAR(120)"), duck_type("NUMERIC(10, 2)")
    ('TIMESTAMP', 'VARCHAR', 'DECIMAL(10, 2)')
    """
    text = server_type.upper().strip()
    word = re.split(r"[\s(]", text, maxsplit=1)[0]
    if word in ("NUMERIC", "DECIMAL"):
        args = re.search(r"\((\d+)\s*,\s*(\d+)\)", text)
        if args and int(args.group(1)) <= 38:
            return f"DECIMAL({args.group(1)}, {args.group(2)})"
    return _TYPES.get(word, "VARCHAR")


def _create(con: duckdb.DuckDBPyConnection, table: str, names: list[str], types: list[str]) -> None:
    body = ", ".join(f"{_ident(n)} {t}" for n, t in zip(names, types, strict=True))
    con.execute(f"CREATE TABLE {_ident(table)} ({body})")


def _insert(con: duckdb.DuckDBPyConnection, table: str, names: list[str], types: list[str],
            rows: list[Any]) -> None:
    """Copy ``rows`` in through a private CSV file: binding Python values one by one costs
    DuckDB a module lookup per value (seconds for a few thousand rows); a CSV is one read."""
    if not rows:
        return
    with tempfile.TemporaryDirectory(prefix="nl2sql-sample-") as folder:
        path = Path(folder) / "rows.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            for row in rows:
                writer.writerow([_NULL if v is None else _plain(v) for v in row])
        try:
            con.execute(f"COPY {_ident(table)} FROM '{_quote(str(path))}' "
                        f"(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
                        f"NULLSTR '{_NULL}', AUTO_DETECT false, MAX_LINE_SIZE 16777216)")
        except duckdb.Error:
            pass  # a value DuckDB cannot hold: the table is profiled empty, never guessed


_NULL = "\x00nl2sql-null\x00"[1:-1]  # never a real value


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _ident(name: str) -> str:
    """A quoted identifier, the same in DuckDB and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'
