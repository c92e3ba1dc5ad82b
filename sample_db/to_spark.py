"""Write the sample shop database as Spark tables (Parquet) through Spark Connect.

``nl2sql sample-db --out sc://localhost:15002[/;database=shop]`` copies what the DuckDB file
holds — tables, rows, table and column comments — into the URL's Spark database (created if
missing), as managed Parquet tables with the same rows. Spark's file tables have no keys, so
each table's primary and foreign keys go into the table properties nl2sql reads back
(``nl2sql.primary_key``, ``nl2sql.foreign_keys``: :mod:`nl2sql.schema.spark`).

The rows travel as Arrow batches of :data:`BATCH_ROWS`. None of the sample's tables may
exist there already: this never overwrites or mixes with someone's data. A failure part way
drops the tables this run created.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.errors import ConfigError
from nl2sql.schema import spark
from nl2sql.schema.source import Source, spark_source
from sample_db.to_server import Loaded, TableSpec, read_specs

BATCH_ROWS = 200_000  # rows per Arrow batch sent to the server (tens of MB at most)


def is_spark_url(text: str) -> bool:
    return text.lower().startswith("sc://")


def spark_type(duckdb_type: str) -> str:
    """The Spark type for a DuckDB column type of the sample.

    >>> spark_type("DECIMAL(10,2)"), spark_type("TIMESTAMP"), spark_type("VARCHAR")
    ('DECIMAL(10,2)', 'TIMESTAMP_NTZ', 'STRING')
    """
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.replace(" ", "")
    return {"INTEGER": "INT", "BIGINT": "BIGINT", "SMALLINT": "SMALLINT", "DOUBLE": "DOUBLE",
            "BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP_NTZ",
            "VARCHAR": "STRING", "REAL": "FLOAT"}.get(upper, "STRING")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def create_statement(spec: TableSpec) -> str:
    """CREATE TABLE for ``spec``: types, comments and the keys as table properties."""
    columns = ", ".join(
        f"{spark.quote(c.name)} {spark_type(c.duckdb_type)}"
        + ("" if c.nullable else " NOT NULL")
        + (f" COMMENT {_literal(c.comment)}" if c.comment else "")
        for c in spec.columns)
    properties = {}
    if spec.primary_key:
        properties[spark.PRIMARY_KEY_PROPERTY] = ",".join(spec.primary_key)
    if spec.foreign_keys:
        properties[spark.FOREIGN_KEYS_PROPERTY] = " ".join(
            f"{','.join(fk.columns)}->{fk.referred_table}.{','.join(fk.referred_columns)}"
            for fk in spec.foreign_keys)
    text = f"CREATE TABLE {spark.quote(spec.name)} ({columns}) USING parquet"
    if spec.comment:
        text += f" COMMENT {_literal(spec.comment)}"
    if properties:
        text += " TBLPROPERTIES (" + ", ".join(
            f"{_literal(k)} = {_literal(v)}" for k, v in properties.items()) + ")"
    return text


def load(out: str, path: Path) -> Loaded:
    """Copy the DuckDB database at ``path`` into the Spark database ``out`` names."""
    source = spark_source(out)
    session = _session(source)
    con = duckdb.connect(str(path), read_only=True)
    created: list[str] = []
    rows: dict[str, int] = {}
    try:
        specs = read_specs(con)
        present = {t.name.lower() for t in session.catalog.listTables()}
        clash = sorted(s.name for s in specs if s.name.lower() in present)
        if clash:
            raise ConfigError(f"{source.location} already has tables named {', '.join(clash)}; "
                              "sample-db --out only writes tables that do not exist yet")
        try:
            for spec in specs:
                session.sql(create_statement(spec))
                created.append(spec.name)
                rows[spec.name] = _copy(con, session, spec)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - the server's error, told in one line
            _drop(session, created)
            raise ConfigError(f"writing the sample database to {source.location} failed: "
                              f"{spark.describe_error(source, exc)}") from None
    finally:
        con.close()
    return Loaded(source.location, rows)


def _session(source: Source) -> Any:
    """A session whose current database is the URL's, created first if missing (a session
    for the URL would fail to USE it)."""
    if source.schema:
        setup = replace(source, schema=None)  # same server and token, no USE
        try:
            spark.session_for(setup).sql(
                f"CREATE DATABASE IF NOT EXISTS {spark.qualified(source.schema)}")
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"cannot create the database {source.schema} on {source.location}: "
                              f"{spark.describe_error(source, exc)}") from None
        spark.forget(setup)  # the next session, under the same key, USEs the database
    return spark.session_for(source)


def _copy(con: duckdb.DuckDBPyConnection, session: Any, spec: TableSpec) -> int:
    import pyarrow as pa  # the Spark client's own dependency

    names = ", ".join('"' + c.name.replace('"', '""') + '"' for c in spec.columns)
    reader = con.execute(f'SELECT {names} FROM "{spec.name}"').to_arrow_reader(BATCH_ROWS)
    total = 0
    for batch in reader:
        frame = session.createDataFrame(pa.Table.from_batches([batch]))
        frame.write.insertInto(spec.name)
        total += batch.num_rows
    return total


def _drop(session: Any, names: list[str]) -> None:
    for name in names:
        try:
            session.sql(f"DROP TABLE IF EXISTS {spark.quote(name)}")
        except Exception:  # noqa: BLE001 - the server is gone: nothing more to undo
            pass


def load_sample(out: str, scale: float) -> Loaded:
    """Write the sample database at ``scale`` to the Spark database ``out`` names."""
    import tempfile

    from sample_db.generate import DEFAULT_PATH, build

    spark_source(out)  # a bad URL fails before any building
    if scale == 1.0 and DEFAULT_PATH.is_file():
        return load(out, DEFAULT_PATH)
    with tempfile.TemporaryDirectory(prefix="nl2sql-sample-") as folder:
        return load(out, build(Path(folder) / "shop.duckdb", scale=scale))
