"""The workspace: a writable DuckDB file of our own for what extraction derives.

The user's database is only ever attached read-only; extracted tables live here, one
file per source database (``$XDG_DATA_HOME/nl2sql/workspace/<alias>-<hash>.duckdb`` by
default, ``NL2SQL_WORKSPACE`` / ``--workspace`` to choose). It holds:

* one table per ``--into``: the source key, the spec's fields and provenance columns
  (:data:`nl2sql.extract.spec.PROVENANCE`), primary key = the source key;
* ``_nl2sql_extractions``: what each table was extracted from, with which spec, and each
  column's lineage (``lineage_json``: the source column it copies or derives from), so
  the access policy follows the source column's *current* rule (:func:`lineage`);
* ``_nl2sql_cache``: answers by (text hash, spec hash, prompt hash, model), so the same
  text is never paid for twice — across reruns, tables and ``--sample``.

Questions see it read-only (:func:`for_questions`, :func:`nl2sql.schema.source.connect`): the
extracted tables join the catalog (:func:`catalog_tables`), described from their spec,
with a foreign key to the source table; the internal tables never do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nl2sql.catalog import Column, ForeignKey, Table
from nl2sql.errors import ConfigError, first_line
from nl2sql.schema.source import Source

if TYPE_CHECKING:
    import duckdb

    from nl2sql.extract.spec import Spec
    from nl2sql.settings import Settings

META = "_nl2sql_extractions"
CACHE = "_nl2sql_cache"
INTERNAL_PREFIX = "_nl2sql"
DONE = ("ok", "invalid", "empty", "partial", "skipped")  # statuses a rerun does not redo

PROVENANCE_DOCS = {
    "source_table": "Table the text came from.",
    "source_column": "Column the text came from.",
    "source_key": "Key of the source row, as text.",
    "model": "Model that produced the values ('detectors' when no model was needed).",
    "spec_hash": "Hash of the spec the values follow.",
    "prompt_hash": "Hash of the prompt the model was given.",
    "text_hash": "Hash of the text the values were extracted from.",
    "extracted_at": "When the values were extracted (UTC).",
    "status": "ok; partial (only fields that need no model); invalid (the model's answer did not "
              "fit the spec, see reason); failed (no answer, retried next run); empty (no text); "
              "skipped (text too long).",
    "reason": "Why the status is not ok.",
}
PROVENANCE_TYPES = {"extracted_at": "TIMESTAMP"}
# Part of the catalog cache's key: a catalog cached before extracted tables carried their
# lineage must be described again, or its copied keys would stay unmasked.
DESCRIBE_VERSION = 2


# --------------------------------------------------------------------------------------
# Where it is
# --------------------------------------------------------------------------------------


def path_for(settings: Settings, source: Source) -> Path:
    """The workspace file of ``source``: ``settings.workspace`` (a file, or a folder for one
    file per database), else one file per database in ``settings.workspace_dir``."""
    name = f"{source.alias}-{hashlib.sha256(source.location.encode()).hexdigest()[:10]}.duckdb"
    chosen = settings.workspace
    if chosen is None:
        return settings.workspace_dir / name
    return chosen / name if chosen.is_dir() else chosen


def for_questions(source: Source, settings: Settings) -> Source:
    """``source`` with its workspace, when one exists, to be attached read-only."""
    path = path_for(settings, source)
    from nl2sql.files import same_file

    if not path.is_file() or same_file(path, source.path):
        return source
    return replace(source, workspace=str(path.resolve()))


@dataclass(frozen=True)
class WorkspaceTables:
    """The extracted tables as a :class:`nl2sql.schema.contributors.CatalogContributor`:
    what questions see of the workspace, attached read-only."""

    settings: Settings

    def locate(self, source: Source) -> Source:
        return for_questions(source, self.settings)

    def fingerprint(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[Any]:
        return fingerprint_part(con, source)

    def tables(self, con: duckdb.DuckDBPyConnection, source: Source,
               existing: dict[str, Table]) -> dict[str, Table]:
        return catalog_tables(con, source, existing)


# --------------------------------------------------------------------------------------
# How questions see it (read-only; called by introspection)
# --------------------------------------------------------------------------------------


def _attached(con: duckdb.DuckDBPyConnection, source: Source) -> bool:
    if not source.workspace:
        return False
    rows = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                       [source.workspace_alias]).fetchone()
    return bool(rows and rows[0])


def _registered(con: duckdb.DuckDBPyConnection, source: Source) -> list[dict[str, Any]]:
    """The extractions of this source database recorded in the attached workspace."""
    if not _attached(con, source):
        return []
    alias = _ident(source.workspace_alias)
    try:
        cursor = con.execute(f"SELECT * FROM {alias}.main.{META} WHERE source_db = ? "
                             "ORDER BY table_name", [source.location])
    except Exception:  # noqa: BLE001 - a workspace without extractions yet (or foreign)
        return []
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fingerprint_part(con: duckdb.DuckDBPyConnection, source: Source) -> list[Any]:
    """What makes a cached catalog stale on the workspace side: its extractions, their
    columns and the files (the write-ahead log too: a killed run leaves one)."""
    if not _attached(con, source):
        return []
    assert source.workspace is not None
    columns = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? ORDER BY ALL", [source.workspace_alias]).fetchall()
    stats: list[Any] = []
    for path in (source.workspace, source.workspace + ".wal"):
        try:
            stat = os.stat(path)
            stats.append([stat.st_size, stat.st_mtime_ns])
        except OSError:
            stats.append(None)
    return [DESCRIBE_VERSION, _registered(con, source), columns, stats]


def catalog_tables(con: duckdb.DuckDBPyConnection, source: Source,
                   existing: dict[str, Table]) -> dict[str, Table]:
    """The extracted tables as catalog tables (a name the source has already is skipped:
    the source wins, as in DuckDB's search path)."""
    from nl2sql.extract.spec import parse

    taken = {name.lower() for name in existing}
    tables: dict[str, Table] = {}
    for meta in _registered(con, source):
        name = str(meta["table_name"])
        if name.lower() in taken:
            continue
        try:
            spec = parse(json.loads(meta["spec_json"]))
        except (ConfigError, ValueError):
            continue
        types = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
            "AND table_name = ? ORDER BY column_index", [source.workspace_alias, name]).fetchall()
        if types:
            tables[name] = describe(name, spec, meta, dict(types),
                                    existing.get(str(meta["source_table"])))
    return tables


def lineage(source_table: str, source_column: str, key: str, fields: list[str],
            key_pii: str | None = None) -> dict[str, dict[str, Any]]:
    """Where each column of an extracted table comes from: ``copy`` columns hold the source
    column's values themselves (the key, ``source_key``), the others are derived from the
    text. The access policy gives a copy its source column's rule, per role, whenever it
    is resolved (a later policy change applies); derived columns follow the table's rule.

    >>> lineage("customers", "city", "phone", ["pii_kinds"], "phone")["source_key"]
    {'source': 'customers.phone', 'copy': True, 'pii': 'phone'}
    """
    text = f"{source_table}.{source_column}"
    copied: dict[str, Any] = {"source": f"{source_table}.{key}", "copy": True}
    if key_pii:
        copied["pii"] = key_pii
    return ({key: dict(copied), "source_key": dict(copied)}
            | {f: {"source": text, "copy": False} for f in [*fields, "text_hash"]})


def _recorded_lineage(meta: dict[str, Any], spec: Spec) -> dict[str, dict[str, Any]]:
    """The lineage the workspace recorded; a workspace written before lineage was recorded
    gets it rebuilt from the extraction's source and key (the same answer)."""
    rebuilt = lineage(str(meta["source_table"]), str(meta["source_column"]),
                      str(meta["key_column"]), list(spec.fields))
    try:
        recorded = json.loads(meta.get("lineage_json") or "null")
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        return rebuilt
    # a recorded entry that is not a mapping is ignored, and a copy stays a copy
    kept = {str(k): v for k, v in recorded.items() if isinstance(v, dict)}
    return rebuilt | kept | {k: {**kept.get(k, {}), **v} for k, v in rebuilt.items()
                             if v["copy"]}


def describe(name: str, spec: Spec, meta: dict[str, Any], types: dict[str, str],
             source: Table | None = None) -> Table:
    """A catalog table for an extracted table: descriptions, synonyms and label aliases
    from the spec, the key as primary key and as foreign key to the source table, and
    each column's lineage (a copy of a personal column carries its ``pii`` tag, so its
    mask has the source's shape)."""
    key = str(meta["key_column"])
    origin = f"{meta['source_table']}.{meta['source_column']}"
    lineage_of = _recorded_lineage(meta, spec)
    source_key = source.column(key) if source is not None else None
    pii = lineage_of.get(key, {}).get("pii") or (
        source_key.tags.get("pii") if source_key is not None else None)
    key_tags = {"pii": str(pii)} if pii else {}
    columns = [Column(name=key, type=types.get(key, "VARCHAR"), nullable=False, primary_key=True,
                      description=f"Key of the {meta['source_table']} row the values were "
                                  f"extracted from (joins {meta['source_table']}.{key}).",
                      tags=dict(key_tags))]
    for field_name, field in spec.fields.items():
        how = f"detected without a model ({field.detector})" if field.detector else "by the model"
        labels = f" One of: {', '.join(field.label_names)}." if field.labels and field.type == "enum" \
            else (f" Items from: {', '.join(field.label_names)}." if field.labels else "")
        columns.append(Column(
            name=field_name, type=types.get(field_name, "VARCHAR"), nullable=True,
            description=f"{field.description}{labels} Extracted from {origin} {how}.",
            synonyms=list(field.synonyms),
            values={label: aliases for label, aliases in field.labels.items() if aliases},
            tags={k: v for k, v in (("pii", field.pii), ("mask", field.mask)) if v}))
    for column in PROVENANCE_DOCS:
        columns.append(Column(name=column, type=types.get(column, "VARCHAR"),
                              nullable=column in ("reason", "text_hash"),
                              description=f"Provenance: {PROVENANCE_DOCS[column]}",
                              tags=dict(key_tags) if column == "source_key" else {}))
    description = (f"{spec.description} Extracted from {origin} with nl2sql extract "
                   f"(spec {spec.name}); one row per {meta['source_table']}.{key}; rows whose "
                   "status is not 'ok' carry no model values.")
    tags = {"extracted": {"spec": spec.name, "spec_hash": meta["spec_hash"],
                          "source_table": meta["source_table"],
                          "source_column": meta["source_column"], "key": key,
                          "model": meta["model"], "workspace": True,
                          "lineage": lineage_of}}
    return Table(name=name, columns=columns, kind="table", primary_key=[key],
                 foreign_keys=[ForeignKey(columns=[key], ref_table=str(meta["source_table"]),
                                          ref_columns=[key])],
                 description=description, synonyms=list(spec.synonyms), tags=tags)


# --------------------------------------------------------------------------------------
# Writing (only ``nl2sql extract`` does, from its main process)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one extraction writes: table, source, key and spec."""

    table: str
    source: Source
    source_table: str
    source_column: str
    key_column: str
    key_type: str
    spec: Spec
    spec_hash: str
    prompt_hash: str
    # the key column's kind of personal data (its ``pii`` tag), recorded in the lineage so
    # that a masked copy of the key has the source's mask shape ("z***@qq.com")
    key_pii: str | None = None


@dataclass(frozen=True)
class CacheEntry:
    status: str
    reason: str | None
    answer: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int
    created_at: dt.datetime


@dataclass
class Row:
    """One finished row, ready to write."""

    key: Any
    text_hash: str | None
    values: dict[str, Any]
    model: str
    status: str
    reason: str | None
    extracted_at: dt.datetime
    # The model's answer to remember in the cache (None: nothing to cache).
    cache: CacheEntry | None = None


class Workspace:
    """The workspace file, open for writing (DuckDB locks it: one writer at a time)."""

    def __init__(self, path: Path, source: Source) -> None:
        import duckdb

        from nl2sql.files import same_file

        if same_file(path, source.path):  # by name, symbolic link or hard link
            raise ConfigError(f"the workspace {path} is the source database itself (or a link "
                              "to it); choose another NL2SQL_WORKSPACE")
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.con = duckdb.connect(str(path), config={"autoload_known_extensions": False,
                                                         "autoinstall_known_extensions": False})
        except (OSError, duckdb.Error) as exc:
            raise ConfigError(f"cannot open the workspace {path}: {first_line(exc)} (another "
                              "nl2sql process may be using it)") from exc
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {META} (table_name VARCHAR PRIMARY KEY, "
                         "source_db VARCHAR, source_table VARCHAR, source_column VARCHAR, "
                         "key_column VARCHAR, key_type VARCHAR, spec_name VARCHAR, "
                         "spec_hash VARCHAR, prompt_hash VARCHAR, spec_json VARCHAR, "
                         "model VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP, "
                         "lineage_json VARCHAR)")
        # a workspace from before lineage was recorded gets the column (NULL: rebuilt)
        self.con.execute(f"ALTER TABLE {META} ADD COLUMN IF NOT EXISTS lineage_json VARCHAR")
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {CACHE} (text_hash VARCHAR, "
                         "spec_hash VARCHAR, prompt_hash VARCHAR, model VARCHAR, "
                         "status VARCHAR NOT NULL, reason VARCHAR, answer VARCHAR, "
                         "prompt_tokens BIGINT, completion_tokens BIGINT, "
                         "created_at TIMESTAMP NOT NULL, "
                         "PRIMARY KEY (text_hash, spec_hash, prompt_hash, model))")

    def close(self) -> None:
        self.con.close()

    # -- the target table ---------------------------------------------------------------

    def meta(self, table: str) -> dict[str, Any] | None:
        cursor = self.con.execute(f"SELECT * FROM {META} WHERE lower(table_name) = lower(?)",
                                  [table])
        names = [d[0] for d in cursor.description or []]
        row = cursor.fetchone()
        return dict(zip(names, row, strict=True)) if row else None

    def prepare(self, target: Target, model: str, replace_table: bool) -> None:
        """Create the table, or check that the existing one is this extraction's."""
        existing = self.meta(target.table)
        if existing is not None and not replace_table:
            was = (existing["source_db"], existing["source_table"], existing["source_column"],
                   existing["key_column"])
            now = (target.source.location, target.source_table, target.source_column,
                   target.key_column)
            if was != now:
                raise ConfigError(f"{target.table} in the workspace was extracted from "
                                  f"{existing['source_table']}.{existing['source_column']} of "
                                  f"{existing['source_db']}; choose another --into or pass --replace")
            if existing["spec_hash"] != target.spec_hash:
                raise ConfigError(f"{target.table} was extracted with a different spec (hash "
                                  f"{existing['spec_hash']}, now {target.spec_hash}); pass "
                                  "--replace to rebuild it, or choose another --into")
        now_ts = _utcnow()
        self.con.execute("BEGIN")
        try:
            if existing is None or replace_table:
                self.con.execute(f"DROP TABLE IF EXISTS {_ident(target.table)}")
                self.con.execute(create_sql(target))
                for statement in comment_sql(target):
                    self.con.execute(statement)
            self.con.execute(
                f"INSERT OR REPLACE INTO {META} VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [target.table, target.source.location, target.source_table,
                 target.source_column, target.key_column, target.key_type, target.spec.name,
                 target.spec_hash, target.prompt_hash,
                 json.dumps(target.spec.model_dump(), ensure_ascii=False), model,
                 existing["created_at"] if existing and not replace_table else now_ts, now_ts,
                 json.dumps(lineage(target.source_table, target.source_column,
                                    target.key_column, list(target.spec.fields),
                                    target.key_pii))])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def done(self, target: Target) -> dict[Any, tuple[Any, ...]]:
        """key → (text_hash, spec_hash, prompt_hash, model, status) of the rows written."""
        rows = self.con.execute(
            f"SELECT {_ident(target.key_column)}, text_hash, spec_hash, prompt_hash, model, "
            f"status FROM {_ident(target.table)}").fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}

    # -- the cache ----------------------------------------------------------------------

    def cached(self, spec_hash: str, prompt_hash: str, model: str) -> dict[str, CacheEntry]:
        """Every remembered answer for this spec, prompt and model, by text hash."""
        rows = self.con.execute(
            f"SELECT text_hash, status, reason, answer, prompt_tokens, completion_tokens, "
            f"created_at FROM {CACHE} WHERE spec_hash = ? AND prompt_hash = ? AND model = ?",
            [spec_hash, prompt_hash, model]).fetchall()
        return {r[0]: CacheEntry(status=r[1], reason=r[2],
                                 answer=json.loads(r[3]) if r[3] is not None else None,
                                 prompt_tokens=int(r[4] or 0), completion_tokens=int(r[5] or 0),
                                 created_at=r[6]) for r in rows}

    def remember(self, target: Target, rows: list[Row]) -> None:
        """Put answers in the cache only (``--sample`` writes no table)."""
        self.write(target, [], rows)

    # -- writing rows -------------------------------------------------------------------

    def write(self, target: Target | None, rows: list[Row], cache_only: list[Row] | None = None,
              ) -> None:
        """One transaction: the rows into the table, their answers into the cache."""
        to_cache = [r for r in [*rows, *(cache_only or [])] if r.cache is not None and r.text_hash]
        if not rows and not to_cache:
            return
        assert target is not None
        self.con.execute("BEGIN")
        try:
            if rows:
                columns = table_columns(target)
                _bulk_upsert(self.con, _ident(target.table), columns,
                             [row_values(target, r) for r in rows])
            if to_cache:
                _bulk_upsert(self.con, CACHE, CACHE_COLUMNS, [
                    [r.text_hash, target.spec_hash, target.prompt_hash, r.model, c.status,
                     c.reason, json.dumps(c.answer, ensure_ascii=False, default=str)
                     if c.answer is not None else None, c.prompt_tokens, c.completion_tokens,
                     c.created_at] for r in to_cache for c in [r.cache] if c is not None])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise


def create_sql(target: Target) -> str:
    """``CREATE TABLE``: key, fields, provenance; the key is the primary key."""
    from nl2sql.extract.spec import sql_type

    columns = [f"{_ident(target.key_column)} {target.key_type} PRIMARY KEY"]
    columns += [f"{_ident(n)} {sql_type(f)}" for n, f in target.spec.fields.items()]
    columns += [f"{_ident(n)} {PROVENANCE_TYPES.get(n, 'VARCHAR')}"
                + ("" if n in ("reason", "text_hash") else " NOT NULL")
                for n in PROVENANCE_DOCS]
    return f"CREATE TABLE {_ident(target.table)} ({', '.join(columns)})"


def comment_sql(target: Target) -> list[str]:
    """``COMMENT ON``: the file describes itself to any tool, not only to nl2sql."""
    table = _ident(target.table)
    statements = [f"COMMENT ON TABLE {table} IS {_literal(target.spec.description)}"]
    statements += [f"COMMENT ON COLUMN {table}.{_ident(n)} IS {_literal(f.description)}"
                   for n, f in target.spec.fields.items()]
    statements += [f"COMMENT ON COLUMN {table}.{_ident(n)} IS {_literal(d)}"
                   for n, d in PROVENANCE_DOCS.items()]
    return statements


CACHE_COLUMNS = [("text_hash", "VARCHAR"), ("spec_hash", "VARCHAR"), ("prompt_hash", "VARCHAR"),
                 ("model", "VARCHAR"), ("status", "VARCHAR"), ("reason", "VARCHAR"),
                 ("answer", "VARCHAR"), ("prompt_tokens", "BIGINT"),
                 ("completion_tokens", "BIGINT"), ("created_at", "TIMESTAMP")]


def table_columns(target: Target) -> list[tuple[str, str]]:
    """(name, DuckDB type) of an extracted table, in order."""
    from nl2sql.extract.spec import sql_type

    return ([(target.key_column, target.key_type)]
            + [(n, sql_type(f)) for n, f in target.spec.fields.items()]
            + [(n, PROVENANCE_TYPES.get(n, "VARCHAR")) for n in PROVENANCE_DOCS])


def _bulk_upsert(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]],
                 rows: list[list[Any]]) -> None:
    """``INSERT OR REPLACE`` many rows in one statement with one parameter: the rows as
    JSON, typed by ``from_json``. DuckDB's Python parameter binding costs ~5 ms a row
    (``executemany`` prepares each row again); this costs ~5 ms a batch."""
    structure = json.dumps([{name: kind for name, kind in columns}])
    payload = json.dumps([dict(zip((n for n, _ in columns), row, strict=True)) for row in rows],
                         ensure_ascii=False, default=_json_default)
    con.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM "
                f"(SELECT unnest(from_json(?::JSON, {_literal(structure)}), max_depth := 2))",
                [payload])


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)  # Decimal, UUID keys: from_json casts them back


def row_values(target: Target, row: Row) -> list[Any]:
    values = [row.key] + [row.values.get(name) for name in target.spec.fields]
    return values + [target.source_table, target.source_column, str(row.key), row.model,
                     target.spec_hash, target.prompt_hash, row.text_hash, row.extracted_at,
                     row.status, row.reason]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
