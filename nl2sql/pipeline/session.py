"""An open database: its catalog, the role's access policy and a confined engine.

Opening resolves and attaches the database, introspects it (cached), applies the
semantic layer and the role's policy, and starts the engine's worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from nl2sql.catalog import Catalog
from nl2sql.drafting.model_drafter import ChatClient, OpenAIChatClient
from nl2sql.errors import ConfigError
from nl2sql.safety import guard, policy
from nl2sql.safety.engine import Engine, Limits, confine
from nl2sql.safety.server_engine import ServerEngine, pushdown_engine
from nl2sql.schema import merged_cache, semantic
from nl2sql.schema.contributors import Contributors
from nl2sql.schema.introspect import complete, introspect, load_unchanged
from nl2sql.schema.source import Source, connect, resolve
from nl2sql.settings import Settings

if TYPE_CHECKING:
    import duckdb

    from nl2sql.drafting.context import Ranker
    from nl2sql.embeddings import Embedder
    from nl2sql.safety.spark_engine import SparkEngine  # built by pushdown_engine, on demand


class PolicyDefaults(Protocol):
    """Protects a catalog that no policy covers (see :func:`semantic.has_policy`): the
    scanner's defaults, :class:`nl2sql.governance.pii_default.ScannerDefaults`, passed in by
    the interfaces because the scanner lives above the pipeline. Returns the catalog with
    the rules as column tags and a note, or unchanged. ``con``: the confined connection
    introspection just used (a cold start), else None (one is opened if needed)."""

    def __call__(self, source: Source, catalog: Catalog,
                 con: duckdb.DuckDBPyConnection | None = None) -> Catalog: ...


@dataclass
class Session:
    """An open database: its catalog and a confined engine."""

    settings: Settings
    source: Source
    catalog: Catalog
    engine: Engine | ServerEngine | SparkEngine
    chat_client: ChatClient | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    access: policy.AccessPolicy = field(default_factory=policy.AccessPolicy)
    # What the drafters may know of: the catalog less what the role may not see.
    visible: Catalog | None = None
    # Schema retrieval for big catalogs (issue 16): an injected embedder, else the one
    # the settings name, made on the first question that needs it (schema_retriever).
    embedder: Embedder | None = None
    retriever: Ranker | None = None

    @property
    def drafting_catalog(self) -> Catalog:
        return self.visible if self.visible is not None else self.catalog

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(settings: Settings, chat_client: ChatClient | None = None,
                 contributors: Contributors = (),
                 defaults: PolicyDefaults | None = None) -> Session:
    """Resolve and attach the database, introspect it (cached) and confine the engine.
    ``contributors`` add tables kept beside the database (the extraction workspace);
    ``defaults`` protect a database no policy covers (every interface passes the scanner's)."""
    started = time.perf_counter()
    source, catalog = load_catalog(settings, contributors, defaults)
    access = role_policy(catalog, settings)
    engine: Engine | ServerEngine | SparkEngine
    if source.is_server:  # pushed down: the server runs the query, read-only
        engine = pushdown_engine(source, Limits.of(settings))
    else:
        engine = Engine(source, Limits.of(settings), settings.cache_dir)
    engine.start()  # its start overlaps the guard and drafting; see Engine.start
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return Session(settings, source, catalog, engine, chat_client, {"open": elapsed},
                   access, policy.visible(catalog, access))


def load_catalog(settings: Settings, contributors: Contributors = (),
                 defaults: PolicyDefaults | None = None) -> tuple[Source, Catalog]:
    """The database (with what ``contributors`` keep beside it attached read-only) and its
    catalog: introspection (cached), the semantic layer (``settings.semantic``, else the file
    named after the database or whose tables it has), then ``defaults`` where no policy
    covers it."""
    source = resolve(settings.db)
    if source.is_server:
        # Questions run on the server, which cannot read the local extraction workspace:
        # its tables are asked with --db pointing at the workspace file (docs/extract.md).
        contributors = ()
    for contributor in contributors:
        source = contributor.locate(source)
    # Warm: the merged catalog from one file, no YAML and no DuckDB connection at all.
    merged_key = merged_cache.key_of(source, settings.schemas_dir, settings.semantic)
    catalog = merged_cache.load(settings.cache_dir, source, merged_key)
    con = None
    try:
        if catalog is None:
            raw = load_unchanged(settings.cache_dir, source)
            if raw is None:
                con = connect(source, settings.cache_dir)
                # The file is untrusted: profiling runs its views, and a view may read files
                # (read_text('/etc/passwd')) or the network. Confined like the engine's
                # worker, such a view fails to profile instead of putting file contents in
                # the catalog.
                confine(con, Limits.of(settings))
                raw = introspect(source, con, settings.cache_dir, contributors)
            catalog = semantic.apply(raw, settings.schemas_dir, settings.semantic,
                                     settings.cache_dir)
            if con is None or complete(con, source):
                merged_cache.save(settings.cache_dir, source, catalog, merged_key)
        if defaults is not None and not semantic.has_policy(catalog):
            catalog = defaults(source, catalog, con)  # a cold start lends its connection
    finally:
        if con is not None:
            con.close()  # introspection's own connection; untrusted SQL runs in the worker
    return source, catalog


def switch_role(session: Session, role: str) -> None:
    """Make ``role`` the session's role (the shell's ``\\role``): its policy and what the
    drafters may see, checked as when a session opens."""
    settings = session.settings.with_overrides(role=role)
    session.access = role_policy(session.catalog, settings)
    session.visible = policy.visible(session.catalog, session.access)
    session.settings = settings


def role_policy(catalog: Catalog, settings: Settings) -> policy.AccessPolicy:
    """The access policy of the settings' role (default: the most restricted), with its
    row filters checked by the guard before any query relies on them."""
    from sqlglot import exp

    from nl2sql.errors import NL2SQLError
    from nl2sql.identity import current_user

    access = policy.for_role(catalog, settings.role, current_user(), settings.mask_key_file)
    for table, condition in access.row_filters.items():
        try:  # the condition exactly as the secure view will use it, checked by the guard
            query = exp.select("*").from_(exp.to_table(exp.to_identifier(table, quoted=True)
                                                       .sql(dialect="duckdb"))
                                          ).where(policy.row_condition(condition))
            guard.check(query.sql(dialect="duckdb"), catalog)
        except NL2SQLError as exc:
            raise ConfigError(f"row filter of role {access.role} on {table} is not valid: "
                              f"{exc.message}") from exc
    return access


def choose_drafter(settings: Settings, requested: str | None = None) -> str:
    """``offline`` or ``model``: ``auto`` means the model when a key or a server is
    configured (a local server at ``OPENAI_BASE_URL`` needs no key)."""
    wanted = requested or settings.drafter
    if wanted == "auto":
        return "model" if settings.api_key or settings.base_url else "offline"
    if wanted == "model" and not (settings.api_key or settings.base_url):
        raise ConfigError("--drafter model needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
                          "server); see .env.example")
    return wanted


def model_client(session: Session) -> ChatClient:
    if session.chat_client is None:
        s = session.settings
        session.chat_client = OpenAIChatClient(
            api_key=s.api_key or "not-needed", model=s.model, base_url=s.base_url,
            timeout=s.model_timeout, retries=s.model_retries)
    return session.chat_client


def schema_retriever(session: Session) -> Ranker:
    """The session's schema retriever (:mod:`nl2sql.drafting.retrieval`), made on first
    use: the injected embedder, else the settings' (``NL2SQL_EMBEDDING_MODEL``; the
    local model by default), vectors cached under the cache folder. Only catalogs larger
    than the whole-catalog threshold ask it, so a small one never loads a model."""
    if session.retriever is None:
        from nl2sql.drafting.retrieval import Retriever
        from nl2sql.embeddings import embedder_for

        s = session.settings
        if session.embedder is None:
            session.embedder = embedder_for(s.embedding_model, s.api_key,
                                            s.embedding_base_url or s.base_url,
                                            timeout=s.model_timeout)
        session.retriever = Retriever(session.embedder, s.cache_dir)
    return session.retriever
