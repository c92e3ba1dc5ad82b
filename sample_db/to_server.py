"""Load the sample shop database into an empty PostgreSQL or MySQL/MariaDB database.

``nl2sql sample-db --out postgresql://user:pass@host:5432/shop`` (or ``mysql://...``)
copies what the DuckDB file holds — tables, rows, primary keys, foreign keys, table and
column comments — into a server database, so the same questions can be asked there.

Everything is read from the DuckDB file itself (its catalog, not generate.py's constants),
so the copy matches the file whatever built it. The target must be empty: this never
overwrites or mixes with someone's data. The password in the URL never appears in a message.

Order of work: create the tables (keys and comments included), insert the rows in batches,
then add the foreign keys — checked once over the loaded rows instead of row by row. On
PostgreSQL all of it is one transaction (a failure leaves the database empty); MySQL
commits each CREATE TABLE by itself, so a failure there can leave tables behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.schema import AddConstraint

from nl2sql.errors import ConfigError
from nl2sql.schema.source import SCHEMES

#: URL scheme -> the SQLAlchemy driver that speaks it here (psycopg 3, PyMySQL): --db's own.
DRIVERS = {scheme: driver for scheme, (_kind, driver) in SCHEMES.items()}
BATCH_ROWS = 5_000  # rows per executemany: a few MB at most, and few round trips
CONNECT_TIMEOUT = 10  # seconds: an unreachable host fails soon with one line


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str  # as DuckDB spells it: INTEGER, DECIMAL(10,2), VARCHAR, ...
    nullable: bool
    comment: str | None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """One table of the DuckDB file: what the server's copy must have."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    comment: str | None


@dataclass(frozen=True)
class Loaded:
    """What :func:`load` did: the target (password hidden) and rows per table."""

    target: str
    rows: dict[str, int]


def is_server_url(text: str) -> bool:
    """``--out`` names a server database (a URL with a scheme), not a file path."""
    return "://" in text


def server_url(text: str) -> URL:
    """The SQLAlchemy URL for ``text`` with this program's driver (ConfigError if the
    scheme is not PostgreSQL or MySQL/MariaDB, or the URL names no database)."""
    try:
        url = make_url(text)
    except Exception:  # noqa: BLE001 - SQLAlchemy's ArgumentError; the text may hold a password
        raise ConfigError("--out is not a database URL: expected "
                          "postgresql://user:password@host:port/database or mysql://...") from None
    driver = DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(f"--out: unsupported database URL scheme {url.drivername!r} "
                          f"(use postgresql:// or mysql://)")
    if not url.database:
        raise ConfigError(f"--out: the URL names no database: "
                          f"{url.render_as_string(hide_password=True)}")
    return url.set(drivername=driver)


def read_specs(con: duckdb.DuckDBPyConnection) -> list[TableSpec]:
    """The tables of the DuckDB file's main schema, parents before children."""
    tables = {name: comment for name, comment in con.execute(
        "SELECT table_name, comment FROM duckdb_tables() "
        "WHERE schema_name = 'main' AND NOT temporary ORDER BY table_oid").fetchall()}
    columns: dict[str, list[Column]] = {name: [] for name in tables}
    for table, name, data_type, nullable, comment in con.execute(
            "SELECT table_name, column_name, data_type, is_nullable, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' ORDER BY table_oid, column_index").fetchall():
        if table in columns:
            columns[table].append(Column(name, data_type, bool(nullable), comment))
    keys: dict[str, tuple[str, ...]] = {}
    foreign: dict[str, list[ForeignKey]] = {name: [] for name in tables}
    for table, kind, cols, ref_table, ref_cols in con.execute(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() WHERE schema_name = 'main' "
            "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') "
            "ORDER BY table_oid, constraint_index").fetchall():
        if table not in tables:
            continue
        if kind == "PRIMARY KEY":
            keys[table] = tuple(cols)
        else:
            foreign[table].append(ForeignKey(tuple(cols), ref_table, tuple(ref_cols)))
    specs = [TableSpec(name, tuple(columns[name]), keys.get(name, ()), tuple(foreign[name]),
                       comment) for name, comment in tables.items()]
    return _parents_first(specs)


def _parents_first(specs: list[TableSpec]) -> list[TableSpec]:
    ordered: list[TableSpec] = []
    done: set[str] = set()
    pending = list(specs)
    while pending:
        ready = [s for s in pending
                 if all(fk.referred_table in done or fk.referred_table == s.name
                        for fk in s.foreign_keys)] or pending[:1]  # a cycle: take one anyway
        for spec in ready:
            ordered.append(spec)
            done.add(spec.name)
            pending.remove(spec)
    return ordered


_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_SIMPLE_TYPES: dict[str, Any] = {
    "BOOLEAN": sa.Boolean(),
    "TINYINT": sa.SmallInteger(),
    "SMALLINT": sa.SmallInteger(),
    "INTEGER": sa.Integer(),
    "BIGINT": sa.BigInteger(),
    "FLOAT": sa.Float(),
    "DOUBLE": sa.Double(),
    "DATE": sa.Date(),
    # microseconds kept on MySQL too (its DATETIME drops them unless told)
    "TIMESTAMP": sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
    # MySQL's TEXT holds 64 KB; MEDIUMTEXT 16 MB (transcripts can be long)
    "VARCHAR": sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
}


def column_type(duckdb_type: str, keyed: bool) -> Any:
    """The SQLAlchemy type for a DuckDB column type. ``keyed``: the column is part of a
    key, where MySQL wants a bounded VARCHAR rather than TEXT."""
    match = _DECIMAL.fullmatch(duckdb_type)
    if match:
        return sa.Numeric(int(match.group(1)), int(match.group(2)))
    if duckdb_type == "VARCHAR" and keyed:
        return sa.String(255)
    try:
        return _SIMPLE_TYPES[duckdb_type]
    except KeyError:
        raise ConfigError(f"sample-db --out: no server type for the DuckDB type {duckdb_type!r}") \
            from None


def _table(metadata: sa.MetaData, spec: TableSpec) -> sa.Table:
    keyed = set(spec.primary_key) | {c for fk in spec.foreign_keys for c in fk.columns}
    columns = [sa.Column(c.name, column_type(c.duckdb_type, c.name in keyed), nullable=c.nullable,
                         comment=c.comment, autoincrement=False) for c in spec.columns]
    constraints = [sa.PrimaryKeyConstraint(*spec.primary_key)] if spec.primary_key else []
    # MySQL: utf8mb4 whatever the database's default (often latin1: no Chinese), and binary
    # comparison like DuckDB's (the default collation ignores case)
    return sa.Table(spec.name, metadata, *columns, *constraints, comment=spec.comment,
                    mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")


def _rows(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> Iterator[list[dict[str, Any]]]:
    names = [c.name for c in spec.columns]
    order = ", ".join(_quote(c) for c in spec.primary_key) or "ALL"
    cursor = con.execute(f"SELECT {', '.join(_quote(n) for n in names)} FROM {_quote(spec.name)} "
                         f"ORDER BY {order}")
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield [dict(zip(names, row, strict=True)) for row in batch]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _one_line(exc: BaseException, url: URL) -> str:
    """The driver's reason on one line, the password cut out should a driver echo it."""
    reason = str(getattr(exc, "orig", None) or exc)
    text = " ".join(reason.split())
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def _engine(url: URL) -> sa.Engine:
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    return sa.create_engine(url, connect_args=connect_args, poolclass=sa.NullPool)


def load(out: str, source: Path) -> Loaded:
    """Copy the DuckDB database at ``source`` into the empty database ``out`` (a URL).

    ConfigError (one line, password hidden) when the URL is unusable, the server cannot
    be reached or logged into, the database is not empty, or the load fails.
    """
    url = server_url(out)
    # as the user wrote it (postgresql://, not the driver's name), password hidden
    shown = url.set(drivername=make_url(out).drivername).render_as_string(hide_password=True)
    engine = _engine(url)
    try:
        try:
            with engine.connect() as conn:
                inspector = sa.inspect(conn)
                present = sorted({*inspector.get_table_names(), *inspector.get_view_names()})
        except sa.exc.DBAPIError as exc:
            raise ConfigError(f"cannot connect to {shown}: {_one_line(exc, url)}") from None
        if present:
            listed = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
            raise ConfigError(f"{shown} is not empty ({len(present)} tables or views: {listed}); "
                              "sample-db --out only loads into an empty database")
        con = duckdb.connect(str(source), read_only=True)
        try:
            specs = read_specs(con)
            metadata = sa.MetaData()
            tables = {spec.name: _table(metadata, spec) for spec in specs}
            rows: dict[str, int] = {}
            try:
                with engine.begin() as conn:
                    metadata.create_all(conn)
                    for spec in specs:
                        rows[spec.name] = 0
                        for batch in _rows(con, spec):
                            conn.execute(tables[spec.name].insert(), batch)
                            rows[spec.name] += len(batch)
                    for spec in specs:
                        for fk in spec.foreign_keys:
                            constraint = sa.ForeignKeyConstraint(
                                list(fk.columns),
                                [f"{fk.referred_table}.{c}" for c in fk.referred_columns],
                                name=f"fk_{spec.name}_{'_'.join(fk.columns)}")
                            tables[spec.name].append_constraint(constraint)
                            conn.execute(AddConstraint(constraint))
            except sa.exc.DBAPIError as exc:
                raise ConfigError(f"loading the sample database into {shown} failed: "
                                  f"{_one_line(exc, url)}") from None
        finally:
            con.close()
    finally:
        engine.dispose()
    return Loaded(shown, rows)


def load_sample(out: str, scale: float) -> Loaded:
    """Load the sample database at ``scale`` into the empty server database ``out``: the
    bundled file at scale 1 when it is there, else one built in a temporary folder."""
    import tempfile

    from sample_db.generate import DEFAULT_PATH, build

    server_url(out)  # a bad URL fails before any building
    if scale == 1.0 and DEFAULT_PATH.is_file():
        return load(out, DEFAULT_PATH)
    with tempfile.TemporaryDirectory(prefix="nl2sql-sample-") as folder:
        return load(out, build(Path(folder) / "shop.duckdb", scale=scale))
