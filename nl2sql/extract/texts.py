"""The texts ``nl2sql themes`` and ``nl2sql search`` read, and where their vectors live.

The selection is ``nl2sql extract``'s (:mod:`nl2sql.extract.selection`): ``--where`` is
parsed on its own into the syntax tree of ``SELECT key, text FROM table WHERE … ORDER BY
key``, the guard checks that query against the catalog under the role's access policy,
and the engine runs it. So a role never reads a column it may not (the guard refuses the
query), and reads a ``redact_text`` column with every phone, e-mail, ID… replaced by its
kind (the secure view): clustering, names, examples and search results are made of what
the role may see.

Vectors go in the workspace of the database (:mod:`nl2sql.extract.workspace`), through
:class:`~nl2sql.embeddings.store.VectorStore`. A remote embedder gets every text with its
personal data replaced by its kind (:func:`nl2sql.extract.prompt.redact`, as extraction
sends it); the local model sees the text as the role read it, on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nl2sql.catalog import Catalog
from nl2sql.column_types import is_text
from nl2sql.errors import ConfigError, UnsafeSQL, first_line
from nl2sql.schema.source import Source

if TYPE_CHECKING:
    import duckdb

    from nl2sql.embeddings import Embedder
    from nl2sql.embeddings.store import VectorStore
    from nl2sql.extract.workspace import Workspace
    from nl2sql.settings import Settings


@dataclass
class Texts:
    """The selected rows (key, text) and how they were chosen, for the audit log too."""

    source: Source
    catalog: Catalog
    table: str
    column: str
    key: str
    key_type: str
    rows: list[tuple[Any, str | None]]
    sql: str
    read: list[str] = field(default_factory=list)  # "table.column"
    role: str | None = None
    key_pii: str | None = None

    @property
    def origin(self) -> str:
        return f"{self.table}.{self.column}"


def select(settings: Settings, source_ref: str, key: str | None, where: str | None,
           option: str = "--from") -> Texts:
    """The rows of ``TABLE.COLUMN`` the role may read (guarded; see the module docstring)."""
    from nl2sql import pipeline
    from nl2sql.extract import selection
    from nl2sql.governance.pii_default import ScannerDefaults

    try:
        table, column = selection.split_from(source_ref)
    except ConfigError:
        raise ConfigError(f"{option} must be TABLE.COLUMN, not {source_ref!r}") from None
    source, catalog = pipeline.load_catalog(settings, defaults=ScannerDefaults(settings))
    access = pipeline.role_policy(catalog, settings)
    found = catalog.table(table)
    if found is None:
        raise ConfigError(f"{option}: no table {table!r} in {catalog.name}")
    if found.name in access.denied_tables:  # the guard's words: nothing about its columns
        raise UnsafeSQL(f"table {found.name} is not available to role {access.role}",
                        rule="denied")
    readable = [c.name for c in found.columns if is_text(c.type)
                and f"{found.name}.{c.name}" not in access.denied_columns
                and f"{found.name}.{c.name}" not in access.masks]
    if not readable:
        raise ConfigError(f"{option}: table {found.name} has no text column "
                          f"{'role ' + str(access.role) + ' may read' if access.role else ''}"
                          .rstrip())
    text = found.column(column)
    if text is None:
        raise ConfigError(f"{option}: table {found.name} has no column {column!r} (its text "
                          f"columns: {', '.join(readable)})")
    ref = f"{found.name}.{text.name}"
    if ref in access.denied_columns:
        raise UnsafeSQL(f"column {ref} is not available to role {access.role}", rule="denied")
    if ref in access.masks:  # masked values carry no meaning to group or search by
        raise UnsafeSQL(f"column {ref} is masked for role {access.role}: its texts cannot be "
                        "grouped or searched", rule="denied")
    if not is_text(text.type):
        raise ConfigError(f"{option}: {ref} is not text ({text.type}); its text columns: "
                          f"{', '.join(readable)}")
    try:
        table, column, key = selection.resolve_names(catalog, table, column, key)
    except ConfigError as exc:
        raise ConfigError(exc.message.replace("--from", option)) from None
    sql = selection.build_query(table, column, key, where, None)
    query = selection.guarded(sql, catalog, None, access)
    chosen = selection.read_rows(source, query, settings)
    key_column = catalog.table(table).column(key)  # type: ignore[union-attr]
    key_pii = key_column.tags.get("pii") if key_column is not None else None
    return Texts(source=source, catalog=catalog, table=table, column=column, key=key,
                 key_type=chosen.key_type, rows=chosen.rows, sql=query.sql,
                 read=list(query.columns), role=access.role,
                 key_pii=str(key_pii) if key_pii else None)


def embedder(settings: Settings, client: Any = None) -> Embedder:
    """The embedder the settings name (the local model unless NL2SQL_EMBEDDING_MODEL)."""
    from nl2sql.embeddings import embedder_for

    return embedder_for(settings.embedding_model, settings.api_key,
                        settings.embedding_base_url or settings.base_url,
                        timeout=settings.model_timeout, client=client)


def open_store(settings: Settings, texts: Texts, chosen: Embedder,
               index_from: int | None = None) -> tuple[Workspace, VectorStore]:
    """The workspace (open for writing: DuckDB locks it) and its vector store; personal
    data is replaced before a remote embedder sees a text."""
    from nl2sql.extract.workspace import Workspace, path_for

    workspace = Workspace(path_for(settings, texts.source), texts.source)
    return workspace, _store(workspace.con, chosen, index_from)


def _store(con: duckdb.DuckDBPyConnection, chosen: Embedder,
           index_from: int | None) -> VectorStore:
    from nl2sql.embeddings.store import INDEX_FROM, VectorStore
    from nl2sql.extract.prompt import redact

    return VectorStore(con, chosen, prepare=redact if chosen.remote else None,
                       index_from=INDEX_FROM if index_from is None else index_from)


@dataclass
class SearchStore:
    """Vectors to search: the workspace's, or — while another process holds the workspace
    (the shell's own query engine reads it) — a copy in memory of this model's vectors,
    where texts embedded now live until the search ends (a note says so)."""

    store: VectorStore
    con: duckdb.DuckDBPyConnection
    workspace: Workspace | None = None
    note: str | None = None

    def close(self) -> None:
        if self.workspace is not None:
            self.workspace.close()
        else:
            self.con.close()


def open_search_store(settings: Settings, texts: Texts, chosen: Embedder,
                      index_from: int | None = None) -> SearchStore:
    """The workspace's store, else a read-only copy (see :class:`SearchStore`)."""
    import duckdb

    from nl2sql.embeddings.store import MODELS, TABLE_PREFIX
    from nl2sql.extract.workspace import path_for

    try:
        workspace, store = open_store(settings, texts, chosen, index_from)
        return SearchStore(store, workspace.con, workspace)
    except ConfigError:
        path = path_for(settings, texts.source)
        if not path.is_file():
            raise
    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    try:
        con.execute("ATTACH '" + str(path).replace("'", "''") + "' AS ws (READ_ONLY)")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'ws' AND "
            "(table_name = ? OR starts_with(table_name, ?))", [MODELS, TABLE_PREFIX]).fetchall()]
        for table in tables:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM ws.main.{table} WHERE "
                        "model_id = ?", [chosen.model_id])
        con.execute("DETACH ws")
    except duckdb.Error as exc:
        con.close()
        raise ConfigError(f"cannot read the workspace {path}: {first_line(exc)}") from exc
    store = _store(con, chosen, index_from)
    return SearchStore(store, con, note=f"the workspace {path} is in use (by this shell's "
                                        "queries or another nl2sql): texts embedded now are "
                                        "not kept")
