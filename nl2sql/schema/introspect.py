"""Stage 1 — introspection: what tables, columns, keys and values the database has.

Structure comes from SQLAlchemy's inspector; profiles (distinct counts, null
share, ranges, frequent values) from DuckDB's SUMMARIZE over the attached
source. The result is cached on disk, keyed by a fingerprint of the schema and
the file's size and modification time, so a second question costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.catalog import Catalog, Column, ForeignKey, Profile, Table
from nl2sql.errors import ConfigError
from nl2sql.schema.contributors import Contributors
from nl2sql.schema.source import Source

CACHE_VERSION = 4
TOP_VALUES_MAX_DISTINCT = 60  # text columns with at most this many values get frequent values
TOP_VALUES_KEEP = 12
TEXT_TYPES = ("VARCHAR", "TEXT", "CHAR", "STRING", "CLOB", "ENUM", "NVARCHAR", "NCHAR")
RANGE_TYPES = ("INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL", "DATE", "TIME", "HUGEINT")


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
    stat = os.stat(source.location)
    extra = [part for contributor in contributors for part in contributor.fingerprint(con, source)]
    payload = json.dumps([CACHE_VERSION, rows, constraints, stat.st_size, stat.st_mtime_ns, *extra],
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _cache_file(cache_dir: Path, source: Source) -> Path:
    # With and without the extraction workspace are two catalogs: keep both warm.
    where = source.location + (f"\0{source.workspace}" if source.workspace else "")
    key = hashlib.sha256(where.encode()).hexdigest()[:24]
    return cache_dir / "catalogs" / f"{key}.json"


def load_cached(cache_dir: Path, source: Source, print_: str) -> Catalog | None:
    """The cached catalog when its fingerprint still matches, else None."""
    path = _cache_file(cache_dir, source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("fingerprint") == print_:
            return Catalog.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a missing or damaged cache is simply rebuilt
    return None


def save_cached(cache_dir: Path, source: Source, catalog: Catalog) -> None:
    """Write the cache atomically; failure to cache never fails a question."""
    path = _cache_file(cache_dir, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(catalog.to_json(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def introspect(source: Source, con: duckdb.DuckDBPyConnection, cache_dir: Path,
               contributors: Contributors = ()) -> Catalog:
    """The catalog of ``source`` (structure + profiles), from cache when fresh.

    ``con`` is an unconfined connection with the source attached (see
    :func:`nl2sql.schema.source.connect`); only our own profiling SQL runs on it here.
    """
    print_ = fingerprint(con, source, contributors)
    cached = load_cached(cache_dir, source, print_)
    if cached is not None:
        return cached
    tables = reflect(source)
    for contributor in contributors:  # e.g. the extracted tables, if any
        tables.update(contributor.tables(con, source, tables))
    referenced = {fk.ref_table.lower() for t in tables.values() for fk in t.foreign_keys}
    for table in tables.values():
        profile_table(con, table, lookup=table.name.lower() in referenced)
    catalog = Catalog(name=source.alias, tables=tables, source=source.location,
                      dialect=source.native_dialect, fingerprint=print_)
    save_cached(cache_dir, source, catalog)
    return catalog


def reflect(source: Source) -> dict[str, Table]:
    """Tables, views, columns, keys and comments through SQLAlchemy's inspector.

    Uses the inspector's batch calls (``get_multi_*``): one query per kind of
    fact instead of several per table, which is what keeps a 300-table
    database well under a second.
    """
    import sqlalchemy as sa
    from sqlalchemy.engine.reflection import ObjectKind

    connect_args: dict[str, Any] = {"read_only": True} if source.kind == "duckdb" else {}
    engine = sa.create_engine(source.sqlalchemy_url, connect_args=connect_args)
    try:
        inspector = sa.inspect(engine)
        views = set(inspector.get_view_names())
        facts: dict[str, Any] = {
            "columns": inspector.get_multi_columns(kind=ObjectKind.ANY),
            "pks": inspector.get_multi_pk_constraint(kind=ObjectKind.ANY),
            "fks": inspector.get_multi_foreign_keys(kind=ObjectKind.TABLE),
            "comments": _multi_comments(inspector, ObjectKind.ANY),
            "definitions": {name: _view_definition(inspector, name) for name in views},
        }
    except sa.exc.SQLAlchemyError as exc:
        raise ConfigError(f"cannot introspect {source.location}: {_one_line(exc)}") from exc
    finally:
        engine.dispose()
    keys: list[Any] = list(facts["columns"])
    return {key[1]: _table_from_facts(key[1], "view" if key[1] in views else "table", key, facts)
            for key in keys}


def _view_definition(inspector: Any, name: str) -> str | None:
    """A view's SQL: the access policy must know which tables a view reads."""
    try:
        definition = inspector.get_view_definition(name)
    except (NotImplementedError, Exception):  # noqa: BLE001 - a dialect may not say
        return None
    return str(definition) if definition else None


def _multi_comments(inspector: Any, kind: Any) -> dict[Any, Any]:
    try:
        return dict(inspector.get_multi_table_comment(kind=kind))
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


def profile_table(con: duckdb.DuckDBPyConnection, table: Table, lookup: bool = False) -> None:
    """Fill row count and per-column profiles in place; a failure leaves them empty.

    ``lookup``: the table is referenced by a foreign key (genres, media types), so
    its unique names are worth listing; elsewhere unique values (e-mails, names)
    are not categories and are never listed.
    """
    try:
        summary = con.execute(f"SUMMARIZE {_ident(table.name)}").fetchall()
        names = [d[0] for d in con.description or []]
    except duckdb.Error:
        return
    for row in summary:
        info = dict(zip(names, row, strict=False))
        column = table.column(str(info["column_name"]))
        if column is None:
            continue
        table.row_count = int(info.get("count") or 0)
        column.profile = _profile_from_summary(info, column.type)
    for column in table.columns:
        if _wants_top_values(column, table, lookup):
            assert column.profile is not None
            column.profile.top_values = _top_values(con, table.name, column.name)
        elif _wants_labels(column):
            assert column.profile is not None
            column.profile.labels = _labels(con, table.name, column.name)


def _profile_from_summary(info: dict[str, Any], type_name: str) -> Profile:
    nulls = float(info.get("null_percentage") or 0) / 100
    ranged = any(t in type_name.upper() for t in RANGE_TYPES)
    return Profile(
        distinct=int(info.get("approx_unique") or 0),
        null_share=round(nulls, 4),
        min=str(info["min"]) if ranged and info.get("min") is not None else None,
        max=str(info["max"]) if ranged and info.get("max") is not None else None,
    )


PERSON_PARTS = {"first", "last", "full", "given", "family", "surname", "email", "mail", "phone",
                "mobile", "fax", "address", "street", "contact", "username", "password", "ssn"}


def _wants_top_values(column: Column, table: Table, lookup: bool) -> bool:
    profile = column.profile
    is_text = any(t in column.type.upper() for t in TEXT_TYPES)
    if not (profile and is_text and 0 < profile.distinct <= TOP_VALUES_MAX_DISTINCT):
        return False
    rows = table.row_count or 0
    repeats = 0 < profile.distinct < rows and (rows < 20 or profile.distinct <= rows * 0.5)
    parts = set(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column.name).lower().replace("_", " ").split())
    naming = bool(parts & {"name", "title", "label"}) and not parts & PERSON_PARTS
    return repeats or (lookup and naming)


LABELS_MAX = 5000


def _wants_labels(column: Column) -> bool:
    """Naming columns (name, title) that are not about people: worth matching questions to."""
    profile = column.profile
    is_text = any(t in column.type.upper() for t in TEXT_TYPES)
    parts = set(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column.name).lower().replace("_", " ").split())
    naming = bool(parts & {"name", "title", "label"}) and not parts & PERSON_PARTS
    return bool(profile and is_text and naming and 0 < profile.distinct <= LABELS_MAX)


def _labels(con: duckdb.DuckDBPyConnection, table: str, column: str) -> list[str]:
    sql = (f"SELECT DISTINCT {_ident(column)}::VARCHAR FROM {_ident(table)} "
           f"WHERE {_ident(column)} IS NOT NULL ORDER BY 1 LIMIT ?")
    try:
        rows = con.execute(sql, [LABELS_MAX + 1]).fetchall()
    except duckdb.Error:
        return []
    return [str(v) for (v,) in rows] if len(rows) <= LABELS_MAX else []


def _top_values(con: duckdb.DuckDBPyConnection, table: str, column: str) -> list[tuple[str, int]]:
    sql = (f"SELECT {_ident(column)}::VARCHAR, count(*) FROM {_ident(table)} "
           f"WHERE {_ident(column)} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?")
    try:
        rows = con.execute(sql, [TOP_VALUES_KEEP * 6]).fetchall()
    except duckdb.Error:
        return []
    if len(rows) > TOP_VALUES_MAX_DISTINCT:  # approx_unique under-counted: not categorical
        return []
    return [(str(v), int(n)) for v, n in rows]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
