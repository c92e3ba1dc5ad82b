"""The themes' workspace tables, and how questions see them.

``nl2sql themes --from T.C`` writes two tables in the workspace (default names
``<T>_themes`` and ``<T>_themes_members``; ``--into`` chooses the first):

* themes: ``theme_id``, ``name``, ``size``, ``share``, ``keywords``, ``examples``,
  ``named_by`` — one row per theme;
* members: the source key, ``theme_id``, ``distance`` (cosine distance to the theme's
  centre) — one row per text that was grouped.

and records them in ``_nl2sql_themes``. Questions see both through the catalog
(:class:`ThemeTables`, a :class:`~nl2sql.schema.contributors.CatalogContributor`) with
foreign keys members → source table and members → themes, described so a model can
join them ("Which theme has the most 1-star reviews?").

Their policy follows the text they were made from, as extracted tables do: each table
carries the ``extracted`` tag, so a role that may not read ``T.C`` in clear may not read
them, their text columns (names, keywords, examples) are redacted like ``T.C`` for a
role that reads it redacted, the members' key is masked like the source key, and the
source's row filter applies to the members — while the themes table, whose sizes and
examples stand for rows the filter may hide, is denied to a role with a row filter on the
source. Names, keywords and examples are written with personal data replaced by its kind
whoever ran the command, so a steward's run
leaves nothing for an analyst that the analyst's own run would not show.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nl2sql.catalog import Column, ForeignKey, Table
from nl2sql.errors import ConfigError
from nl2sql.schema.source import Source

if TYPE_CHECKING:
    import duckdb

    from nl2sql.extract.workspace import Workspace
    from nl2sql.settings import Settings

REGISTRY = "_nl2sql_themes"
THEME_COLUMNS = [("theme_id", "INTEGER"), ("name", "VARCHAR"), ("size", "BIGINT"),
                 ("share", "DOUBLE"), ("keywords", "VARCHAR[]"), ("examples", "VARCHAR[]"),
                 ("named_by", "VARCHAR")]
THEME_DOCS = {
    "theme_id": "Theme number, 0 for the largest theme.",
    "name": "Theme name (topic): by the model, or the theme's most distinctive words.",
    "size": "Number of texts in the theme.",
    "share": "Share of the grouped texts in the theme (0 to 1).",
    "keywords": "The theme's most distinctive words, best first.",
    "examples": "Texts closest to the theme's centre (personal data replaced by its kind).",
    "named_by": "Who named the theme: 'model:<name>' or 'words'.",
}


@dataclass(frozen=True)
class ThemeRow:
    theme_id: int
    name: str
    size: int
    share: float
    keywords: list[str]
    examples: list[str]
    named_by: str


@dataclass(frozen=True)
class Written:
    """Where the themes went."""

    themes_table: str
    members_table: str
    workspace: str


def members_name(themes_table: str) -> str:
    return f"{themes_table}_members"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_names(into: str, catalog: Any) -> None:
    """``--into`` names a new table of our own, not one of the source's."""
    from nl2sql.extract.spec import NAME
    from nl2sql.extract.workspace import INTERNAL_PREFIX

    for name in (into, members_name(into)):
        if not NAME.fullmatch(name) or name.startswith(INTERNAL_PREFIX):
            raise ConfigError(f"--into {into!r} is not a valid table name: lower-case "
                              "letters, digits and _, starting with a letter")
        if catalog.table(name) is not None:
            raise ConfigError(f"--into {into}: the source database has a table {name}; "
                              "choose another (the source is never written)")


def write(workspace: Workspace, *, into: str, source: Source, table: str, column: str,
          key: str, key_type: str, key_pii: str | None, themes: list[ThemeRow],
          members: list[tuple[Any, int, float]], embedding_model: str, where: str | None,
          ) -> Written:
    """Replace the two tables and their registry row, in one transaction."""
    from nl2sql.extract.workspace import META

    con = workspace.con
    members_table = members_name(into)
    con.execute(f"CREATE TABLE IF NOT EXISTS {REGISTRY} (table_name VARCHAR PRIMARY KEY, "
                "members_table VARCHAR, source_db VARCHAR, source_table VARCHAR, "
                "source_column VARCHAR, key_column VARCHAR, key_pii VARCHAR, "
                "embedding_model VARCHAR, k INTEGER, where_sql VARCHAR, created_at TIMESTAMP)")
    taken = con.execute(f"SELECT table_name FROM {META} WHERE lower(table_name) IN (?, ?)",
                        [into, members_table]).fetchall()
    if taken:
        raise ConfigError(f"--into {into}: the workspace has an extracted table {taken[0][0]}; "
                          "choose another name")
    theme_sql = ", ".join(f"{_ident(n)} {t}" for n, t in THEME_COLUMNS)
    con.execute("BEGIN")
    try:
        for name in (into, members_table):
            con.execute(f"DROP TABLE IF EXISTS {_ident(name)}")
        con.execute(f"CREATE TABLE {_ident(into)} ({theme_sql}, PRIMARY KEY (theme_id))")
        con.execute(f"CREATE TABLE {_ident(members_table)} ({_ident(key)} {key_type} "
                    "PRIMARY KEY, theme_id INTEGER NOT NULL, distance DOUBLE NOT NULL)")
        if themes:
            con.execute(
                f"INSERT INTO {_ident(into)} SELECT * FROM (SELECT unnest(from_json(?::JSON, "
                f"{_literal(json.dumps([dict(THEME_COLUMNS)]))}), max_depth := 2))",
                [json.dumps([t.__dict__ for t in themes], ensure_ascii=False)])
        if members:
            structure = json.dumps([{key: key_type, "theme_id": "INTEGER",
                                     "distance": "DOUBLE"}])
            con.execute(
                f"INSERT INTO {_ident(members_table)} SELECT * FROM (SELECT unnest(from_json("
                f"?::JSON, {_literal(structure)}), max_depth := 2))",
                [json.dumps([{key: k, "theme_id": t, "distance": d} for k, t, d in members],
                            ensure_ascii=False, default=str)])
        for statement in _comments(into, members_table, f"{table}.{column}", key):
            con.execute(statement)
        con.execute(f"INSERT OR REPLACE INTO {REGISTRY} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [into, members_table, source.location, table, column, key, key_pii,
                     embedding_model, len(themes), where,
                     dt.datetime.now(dt.UTC).replace(tzinfo=None)])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return Written(into, members_table, str(workspace.path))


def _comments(themes: str, members: str, origin: str, key: str) -> list[str]:
    """``COMMENT ON``: the file describes itself to any tool, not only to nl2sql."""
    out = [f"COMMENT ON TABLE {_ident(themes)} IS {_literal(f'Themes of {origin}')}",
           f"COMMENT ON TABLE {_ident(members)} IS "
           f"{_literal(f'The theme of each text of {origin}')}"]
    out += [f"COMMENT ON COLUMN {_ident(themes)}.{_ident(n)} IS {_literal(d)}"
            for n, d in THEME_DOCS.items()]
    return out


# --------------------------------------------------------------------------------------
# How questions see them (read-only; called by introspection)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeTables:
    """The themes' tables as a :class:`~nl2sql.schema.contributors.CatalogContributor`."""

    settings: Settings

    def locate(self, source: Source) -> Source:
        from nl2sql.extract.workspace import for_questions

        return for_questions(source, self.settings)

    def fingerprint(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[Any]:
        return ["themes-3", [list(r.values()) for r in _registered(con, source)]]

    def tables(self, con: duckdb.DuckDBPyConnection, source: Source,
               existing: dict[str, Table]) -> dict[str, Table]:
        taken = {name.lower() for name in existing}
        tables: dict[str, Table] = {}
        runs = _registered(con, source)
        for meta in runs:
            names = (str(meta["table_name"]), str(meta["members_table"]))
            if any(n.lower() in taken for n in names):
                continue
            types = dict(con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                "AND table_name = ? ORDER BY column_index",
                [source.workspace_alias, names[1]]).fetchall())
            if not types:
                continue
            source_table = existing.get(str(meta["source_table"]))
            themes, members = describe(meta, types, source_table, only=len(runs) == 1)
            tables[themes.name] = themes
            tables[members.name] = members
        return tables


def _registered(con: duckdb.DuckDBPyConnection, source: Source) -> list[dict[str, Any]]:
    if not source.workspace:
        return []
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND "
                        "table_name = ?", [source.workspace_alias, REGISTRY]).fetchone()
    if not (found and found[0]):
        return []
    cursor = con.execute(f"SELECT * FROM {_ident(source.workspace_alias)}.main.{REGISTRY} "
                         "WHERE source_db = ? ORDER BY table_name", [source.location])
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def describe(meta: dict[str, Any], member_types: dict[str, str],
             source_table: Table | None, only: bool = True) -> tuple[Table, Table]:
    """The two catalog tables of one themes run, tagged like extracted tables so the
    access policy follows the source text (see the module docstring). ``only``: the one
    themes run of the database, which takes the plain words ("theme", "主题"); with several,
    each is named by its source ("reviews themes"), so a question about the themes of one
    table never gets another's."""
    themes_name, members_name_ = str(meta["table_name"]), str(meta["members_table"])
    table, column, key = (str(meta[k]) for k in ("source_table", "source_column", "key_column"))
    origin = f"{table}.{column}"
    source_key = source_table.column(key) if source_table is not None else None
    pii = meta.get("key_pii") or (source_key.tags.get("pii") if source_key is not None else None)
    key_tags = {"pii": str(pii)} if pii else {}
    derived = {"source": origin, "copy": False}
    copied: dict[str, Any] = {"source": f"{table}.{key}", "copy": True}
    if pii:
        copied["pii"] = str(pii)
    common = {"source_table": table, "source_column": column, "workspace": True,
              "themes": True, "embedding_model": meta.get("embedding_model")}
    theme_columns = [Column(name=n, type=t, nullable=n not in ("theme_id", "name", "size"),
                            primary_key=n == "theme_id", description=THEME_DOCS[n],
                            synonyms=_SYNONYMS.get(n, []) if only else [])
                     for n, t in THEME_COLUMNS]
    themes = Table(
        name=themes_name, columns=theme_columns, kind="table", primary_key=["theme_id"],
        description=f"Themes (topics, clusters) found in {origin} by nl2sql themes: one row "
                    f"per theme; join {members_name_} on theme_id for the theme of each "
                    f"{table} row.",
        synonyms=(["themes", "topics", "clusters", "主题", "话题"] if only else [])
        + [f"{table} themes", f"{table} topics", f"themes of {table}"],
        # "summary": its rows stand for groups of source rows (sizes, examples), so a role
        # that reads the source through a row filter may not read it (safety.policy.roles)
        tags={"extracted": common | {"key": "theme_id", "summary": True, "lineage": {
            n: dict(derived) for n, _ in THEME_COLUMNS if n != "theme_id"}}})
    members = Table(
        name=members_name_, kind="table", primary_key=[key],
        columns=[Column(name=key, type=member_types.get(key, "VARCHAR"), nullable=False,
                        primary_key=True, tags=dict(key_tags),
                        description=f"Key of the {table} row (joins {table}.{key})."),
                 Column(name="theme_id", type="INTEGER", nullable=False,
                        description=f"The row's theme (joins {themes_name}.theme_id).",
                        synonyms=["theme", "topic", "主题"] if only else []),
                 Column(name="distance", type="DOUBLE", nullable=False,
                        description="Cosine distance of the text to its theme's centre "
                                    "(0 = typical of the theme).")],
        foreign_keys=[ForeignKey(columns=[key], ref_table=table, ref_columns=[key]),
                      ForeignKey(columns=["theme_id"], ref_table=themes_name,
                                 ref_columns=["theme_id"])],
        description=f"The theme of each {table} row (text {origin}), one row per {table}."
                    f"{key}; join {table} on {key} and {themes_name} on theme_id.",
        synonyms=["theme membership", "主题归属"],
        tags={"extracted": common | {"key": key, "lineage": {
            key: copied, "theme_id": dict(derived), "distance": dict(derived)}}})
    return themes, members


_SYNONYMS = {"name": ["theme", "theme name", "topic", "主题", "主题名称", "话题"],
             "size": ["count", "number of texts", "数量", "规模"],
             "examples": ["example texts", "例子", "示例"]}
