"""Stage 1 — introspection: what tables, columns, keys and values the database has.

Structure comes from SQLAlchemy's inspector; profiles (distinct counts, null
share, ranges, frequent values) from a few batched aggregates over the attached
source (:mod:`nl2sql.schema.profiling`). The result is cached on disk, keyed by a
fingerprint of the schema and the file's size and modification time, so a second
question costs milliseconds; while the files' sizes and times are unchanged, the cache
is read without opening the database at all (:func:`load_unchanged`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.catalog import Catalog, Column, ForeignKey, Table
from nl2sql.errors import ConfigError
from nl2sql.files import write_private
from nl2sql.schema.contributors import Contributors
from nl2sql.schema.profiling import profile_tables
from nl2sql.schema.source import Source

CACHE_VERSION = 5  # 5: Profile.distinct_exact; profiles no longer from SUMMARIZE


def fingerprint(con: duckdb.DuckDBPyConnection, source: Source,
                contributors: Contributors = ()) -> str:
    """A hash that changes when the schema (or the file, or a contributor's tables) changes."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = ? ORDER BY ALL",
        [source.alias],
    ).fetchall()
    constraints = con.execute(
        "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() "
        "WHERE database_name = ? ORDER BY ALL",
        [source.alias],
    ).fetchall()
    if source.is_server:  # the server's own schema, not the sample's
        from nl2sql.schema import server

        stamp: list[Any] = [server.fingerprint(source)]
    else:
        stat = os.stat(source.location)
        stamp = [stat.st_size, stat.st_mtime_ns]
    extra = [part for contributor in contributors for part in contributor.fingerprint(con, source)]
    payload = json.dumps([CACHE_VERSION, rows, constraints, *stamp, *extra], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cache_path(cache_dir: Path, source: Source, suffix: str = ".json",
               folder: str = "catalogs") -> Path:
    """Where something kept for ``source`` is cached: its catalog (introspection's, or the
    merged one's), or another folder's file about it."""
    # With and without the extraction workspace are two catalogs: keep both warm.
    where = source.location + (f"\0{source.workspace}" if source.workspace else "")
    key = hashlib.sha256(where.encode()).hexdigest()[:24]
    return cache_dir / folder / f"{key}{suffix}"


def load_cached(cache_dir: Path, source: Source, print_: str) -> Catalog | None:
    """The cached catalog when its fingerprint still matches, else None."""
    path = cache_path(cache_dir, source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("fingerprint") == print_:
            return Catalog.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a missing or damaged cache is simply rebuilt
    return None


def file_key(source: Source) -> list[Any]:
    """Size and modification time of every file the catalog comes from (the database, the
    workspace, their write-ahead logs): unchanged files cannot hold a changed schema."""
    if source.is_server:  # no file: the server's schema fingerprint (one round trip)
        from nl2sql.schema import server

        return [CACHE_VERSION, source.location, server.fingerprint(source),
                source.workspace and os.path.exists(source.workspace)]
    paths = [source.location, source.location + ".wal", source.location + "-wal"]
    if source.workspace:
        paths += [source.workspace, source.workspace + ".wal"]
    key: list[Any] = [CACHE_VERSION]
    for path in paths:
        try:
            stat = os.stat(path)
            key.append([path, stat.st_size, stat.st_mtime_ns])
        except OSError:
            key.append([path, None, None])
    return key


def load_unchanged(cache_dir: Path, source: Source) -> Catalog | None:
    """The cached catalog when none of its files changed since it was saved (see
    :func:`file_key`), without opening the database: what makes a warm start cheap.
    None when something changed (or no cache): :func:`introspect` decides then."""
    try:
        data = json.loads(cache_path(cache_dir, source).read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("file_key") == file_key(source):
            return Catalog.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def save_cached(cache_dir: Path, source: Source, catalog: Catalog,
                key: list[Any] | None = None) -> None:
    """Write the cache atomically; failure to cache never fails a question. ``key``:
    the :func:`file_key` it was built under, for :func:`load_unchanged`."""
    # Profiles hold values (ranges, frequent values) a restricted role may not see:
    # the cache is readable by its owner only, whatever the umask.
    write_private(cache_path(cache_dir, source),
                  json.dumps({**catalog.to_json(), "file_key": key}, ensure_ascii=False))


def introspect(source: Source, con: duckdb.DuckDBPyConnection, cache_dir: Path,
               contributors: Contributors = ()) -> Catalog:
    """The catalog of ``source`` (structure + profiles), from cache when fresh.

    ``con`` is an unconfined connection with the source attached (see
    :func:`nl2sql.schema.source.connect`); only our own profiling SQL runs on it here.
    """
    key = file_key(source)  # before reading: a change while we read makes the next run look
    print_ = fingerprint(con, source, contributors)
    cached = load_cached(cache_dir, source, print_)
    if cached is not None:
        save_cached(cache_dir, source, cached, _trusted(con, source, key))  # files touched only
        return cached
    tables = reflect(source)
    for contributor in contributors:  # e.g. the extracted tables, if any
        tables.update(contributor.tables(con, source, tables))
    profile_tables(con, source, tables)
    if source.is_server:  # profiles read a sample; row counts are the server's estimates
        from nl2sql.schema import server

        for name, rows in server.row_counts(source).items():
            if name in tables and rows > (tables[name].row_count or 0):
                tables[name].row_count = rows
    catalog = Catalog(name=source.alias, tables=tables, source=source.location,
                      dialect=source.native_dialect, fingerprint=print_)
    save_cached(cache_dir, source, catalog, _trusted(con, source, key))
    return catalog


def _trusted(con: duckdb.DuckDBPyConnection, source: Source, key: list[Any]) -> list[Any] | None:
    """``key``, unless the workspace could not be attached (see :func:`complete`)."""
    return key if complete(con, source) else None


def complete(con: duckdb.DuckDBPyConnection, source: Source) -> bool:
    """Whether a catalog read on ``con`` has all of ``source``: not when its workspace could
    not be attached (an extraction holds its lock). Such a catalog lacks the workspace's
    tables though no file changed, so no cache may keep it."""
    if not source.workspace:
        return True
    attached = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                           [source.workspace_alias]).fetchone()
    return bool(attached and attached[0])


def reflect(source: Source) -> dict[str, Table]:
    """Tables, views, columns, keys and comments through SQLAlchemy's inspector.

    Uses the inspector's batch calls (``get_multi_*``): one query per kind of
    fact instead of several per table, which is what keeps a 300-table
    database well under a second.
    """
    if source.kind == "spark":  # Spark's catalog, not SQLAlchemy's inspector
        from nl2sql.schema import spark

        return spark.reflect(source)
    import sqlalchemy as sa
    from sqlalchemy.engine.reflection import ObjectKind

    # Read-only, and no file or network access should a view be bound (the file is untrusted).
    connect_args: dict[str, Any] = ({"read_only": True,
                                     "config": {"enable_external_access": False}}
                                    if source.kind == "duckdb" else {})
    if source.is_server:
        from nl2sql.schema import server

        engine = server.engine_for(source)  # pooled: the engine's queries reuse it
    else:
        engine = sa.create_engine(source.sqlalchemy_url, connect_args=connect_args)
    schema = source.schema
    try:
        inspector = sa.inspect(engine)
        views = set(inspector.get_view_names(schema=schema))
        facts: dict[str, Any] = {
            "columns": inspector.get_multi_columns(schema=schema, kind=ObjectKind.ANY),
            "pks": inspector.get_multi_pk_constraint(schema=schema, kind=ObjectKind.ANY),
            "fks": inspector.get_multi_foreign_keys(schema=schema, kind=ObjectKind.TABLE),
            "comments": _multi_comments(inspector, ObjectKind.ANY, schema),
            "definitions": {name: _view_definition(inspector, name, schema) for name in views},
        }
    except sa.exc.SQLAlchemyError as exc:
        if source.is_server:
            from nl2sql.schema import server

            raise server.connection_error(source, exc) from None
        raise ConfigError(f"cannot introspect {source.location}: {_one_line(exc)}") from exc
    finally:
        if not source.is_server:
            engine.dispose()
    keys: list[Any] = list(facts["columns"])
    return {key[1]: _table_from_facts(key[1], "view" if key[1] in views else "table", key, facts)
            for key in keys}


def _view_definition(inspector: Any, name: str, schema: str | None = None) -> str | None:
    """A view's SQL: the access policy must know which tables a view reads."""
    try:
        definition = inspector.get_view_definition(name, schema=schema)
    except (NotImplementedError, Exception):  # noqa: BLE001 - a dialect may not say
        return None
    return str(definition) if definition else None


def _multi_comments(inspector: Any, kind: Any, schema: str | None = None) -> dict[Any, Any]:
    try:
        return dict(inspector.get_multi_table_comment(schema=schema, kind=kind))
    except NotImplementedError:  # SQLite has no comments
        return {}


def _table_from_facts(name: str, kind: str, key: Any, facts: dict[str, Any]) -> Table:
    pk = list((facts["pks"].get(key) or {}).get("constrained_columns") or [])
    columns = [
        Column(name=c["name"], type=_type_name(c["type"]), nullable=bool(c.get("nullable", True)),
               comment=c.get("comment") or None, primary_key=c["name"] in pk)
        for c in facts["columns"][key]
    ]
    fks = [
        ForeignKey(columns=list(fk["constrained_columns"]), ref_table=fk["referred_table"],
                   ref_columns=list(fk["referred_columns"]))
        for fk in facts["fks"].get(key, [])
        if fk.get("referred_table")
    ]
    comment = (facts["comments"].get(key) or {}).get("text") or None
    return Table(name=name, columns=columns, kind=kind, primary_key=pk, foreign_keys=fks,
                 comment=comment, definition=facts["definitions"].get(name))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _type_name(sa_type: Any) -> str:
    try:
        return str(sa_type.compile()).upper()
    except Exception:  # some reflected types cannot compile without a dialect
        return type(sa_type).__name__.upper()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
