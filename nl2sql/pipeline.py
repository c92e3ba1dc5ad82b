"""The pipeline, stage by stage: introspect → semantic layer → context → prompt →
draft → guard → repair → execute → answer.

A :class:`Session` holds what is worth keeping between questions (the
catalog and the confined engine); :func:`ask` and :func:`run_sql` are the two
ways in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nl2sql.catalog import Catalog
from nl2sql.drafting import context as context_stage
from nl2sql.drafting import prompt, repair
from nl2sql.drafting.model_drafter import ChatClient, ModelDrafter, OpenAIChatClient
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import ConfigError, DrafterDeclined, Interrupted, ModelError, ModelRefused
from nl2sql.safety import guard, policy
from nl2sql.safety.engine import Engine, Limits
from nl2sql.schema import semantic
from nl2sql.schema.introspect import introspect
from nl2sql.schema.source import Source, connect, resolve
from nl2sql.settings import DEFAULT_DB, Settings
from nl2sql.values import Answer, Draft, GuardedQuery


@dataclass
class Session:
    """An open database: its catalog and a confined engine."""

    settings: Settings
    source: Source
    catalog: Catalog
    engine: Engine
    chat_client: ChatClient | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    access: policy.AccessPolicy = field(default_factory=policy.AccessPolicy)
    # What the drafters may know of: the catalog less what the role may not see.
    visible: Catalog | None = None

    @property
    def drafting_catalog(self) -> Catalog:
        return self.visible if self.visible is not None else self.catalog

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ensure_sample_db(db: str) -> bool:
    """Build the bundled sample database on first use. True when it was built."""
    path = Path(db)
    if path.resolve() != DEFAULT_DB.resolve() or path.exists():
        return False
    from sample_db.generate import build

    build(path)
    return True


def open_session(settings: Settings, chat_client: ChatClient | None = None) -> Session:
    """Resolve and attach the database, introspect it (cached) and confine the engine."""
    started = time.perf_counter()
    source, catalog = load_catalog(settings)
    access = role_policy(catalog, settings)
    limits = Limits(timeout=settings.query_timeout, max_rows=settings.row_limit,
                    memory_limit=settings.memory_limit, threads=settings.threads)
    engine = Engine(source, limits, settings.cache_dir)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return Session(settings, source, catalog, engine, chat_client, {"open": elapsed},
                   access, policy.visible(catalog, access))


def load_catalog(settings: Settings, workspace: bool = True) -> tuple[Source, Catalog]:
    """The database (with the extraction workspace attached read-only, unless
    ``workspace`` is False) and its catalog: introspection (cached) plus the semantic layer."""
    from nl2sql.extract.workspace import for_questions

    source = resolve(settings.db)
    if workspace:
        source = for_questions(source, settings)  # extracted tables, read-only
    con = connect(source, settings.cache_dir)
    try:
        raw = introspect(source, con, settings.cache_dir)
    finally:
        con.close()  # introspection's own connection; untrusted SQL runs in the engine's worker
    return source, semantic.apply(raw, settings.schemas_dir)


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
    from nl2sql.governance.audit import current_user

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
    """``offline`` or ``model``: ``auto`` means the model when a key is configured."""
    wanted = requested or settings.drafter
    if wanted == "auto":
        return "model" if settings.api_key else "offline"
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


def ask(session: Session, question: str, conversation: list[Turn] | None = None,
        drafter: str | None = None, row_limit: int | None = None,
        approve: Callable[[str], bool] | None = None) -> Answer:
    """Answer ``question`` with rows, the SQL and how it was obtained.

    ``approve`` (the shell's ``\\confirm on``) sees each model draft after the guard
    accepted it and before it runs; returning False stops with :class:`Interrupted`.
    """
    question = _clean_question(question)
    kind = choose_drafter(session.settings, drafter)
    limits = guard.Policy(row_limit=row_limit or session.settings.row_limit)
    started = time.perf_counter()
    ctx = context_stage.select(question, session.drafting_catalog)
    messages = prompt.build(question, ctx, conversation)
    context_ms = (time.perf_counter() - started) * 1000
    check = _approving(lambda sql: guard.check(sql, session.catalog, limits,
                                               access=session.access),
                       approve if kind == "model" else None)
    if kind == "offline":
        first = _offline_draft(session, question, conversation)
        outcome = repair.run(messages, _no_repair, check, session.engine.run, 0, first=first)
        return _answer(question, outcome, context_ms, started, session)
    model = ModelDrafter(model_client(session))
    draft_fn = _with_dialect_repairs(model.draft, session)
    try:
        outcome = repair.run(messages, draft_fn, check, session.engine.run,
                             session.settings.max_repairs)
    except ModelError as exc:
        if (drafter or session.settings.drafter) != "auto" or isinstance(exc, ModelRefused):
            raise
        answer = _fallback(session, question, conversation, check, exc, context_ms, started)
        return answer
    return _answer(question, outcome, context_ms, started, session)


def _approving(check: Callable[[str], GuardedQuery],
               approve: Callable[[str], bool] | None) -> Callable[[str], GuardedQuery]:
    if approve is None:
        return check

    def checked(sql: str) -> GuardedQuery:
        query = check(sql)
        if not approve(query.sql):
            raise Interrupted("not run: you declined the model's query")
        return query

    return checked


def _with_dialect_repairs(draft_fn: Callable[[list[dict[str, str]]], Draft],
                          session: Session) -> Callable[[list[dict[str, str]]], Draft]:
    """Over a SQLite source, models slip into SQLite habits ("strings" in double quotes,
    bare GROUP BY columns): repair them deterministically before any round trip."""
    if session.source.kind == "duckdb":
        return draft_fn
    from nl2sql.errors import NL2SQLError
    from nl2sql.safety.dialects import to_duckdb

    def drafted(messages: list[dict[str, str]]) -> Draft:
        draft = draft_fn(messages)
        try:
            transpiled = to_duckdb(draft.sql, session.source.kind, session.catalog)
        except NL2SQLError:
            return draft  # not valid in that dialect: the guard judges it as DuckDB SQL
        if transpiled.repairs:
            draft.sql = transpiled.sql
        return draft

    return drafted


def _fallback(session: Session, question: str, conversation: list[Turn] | None,
              check: Callable[[str], GuardedQuery], exc: ModelError, context_ms: float,
              started: float) -> Answer:
    """With ``--drafter auto`` an unreachable model falls back to the offline drafter."""
    try:
        first = _offline_draft(session, question, conversation)
    except DrafterDeclined:
        raise exc from None
    outcome = repair.run([], _no_repair, check, session.engine.run, 0, first=first)
    answer = _answer(question, outcome, context_ms, started, session)
    answer.notes.insert(0, f"model unavailable ({exc.message}); answered by the offline drafter")
    return answer


def _no_repair(messages: list[dict[str, str]]) -> Draft:
    raise AssertionError("the offline drafter is never asked to repair")  # pragma: no cover


def _offline_draft(session: Session, question: str, conversation: list[Turn] | None) -> Draft:
    from nl2sql.drafting.offline import draft

    return draft(question, session.drafting_catalog, conversation)


def _clean_question(question: str) -> str:
    cleaned = " ".join(question.split())
    if not cleaned:
        raise ConfigError("the question is empty")
    if len(cleaned) > 2000:
        raise ConfigError(f"the question is {len(cleaned):,} characters long; the limit is 2,000")
    if any(ord(c) < 32 for c in cleaned):
        raise ConfigError("the question contains control characters")
    return cleaned


def _answer(question: str | None, outcome: repair.Outcome, context_ms: float, started: float,
            session: Session) -> Answer:
    masking = _masking(outcome.query, outcome.result.columns)
    timings = {k: round(v, 2) for k, v in outcome.timings_ms.items()}
    timings["context"] = round(context_ms, 2)
    timings.update(session.timings_ms)
    return Answer(
        question=question, sql=outcome.query.sql, columns=outcome.result.columns,
        types=outcome.result.types, rows=outcome.result.rows, drafter=outcome.draft.drafter,
        attempts=outcome.attempts, interpretation=outcome.draft.interpretation,
        prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens,
        timings_ms=timings, elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        truncated=outcome.result.truncated,
        notes=outcome.query.notes + _masking_notes(masking, session.access.role),
        database=session.catalog.name, tables_read=list(outcome.query.tables),
        columns_read=list(outcome.query.columns), role=session.access.role,
        masking=masking)


def _masking_notes(masking: list[dict[str, object]], role: str) -> list[str]:
    shown = [f"{m['column']} ({m['source']}, {m['mode']})" for m in masking]
    return [f"masked for role {role}: {', '.join(shown)}"] if shown else []


def _masking(query: GuardedQuery, columns: list[str]) -> list[dict[str, object]]:
    """The guard's per-position masking report, named by the result's columns."""
    def named(position: int | None) -> str:
        return columns[position] if position is not None and position < len(columns) else "*"

    return [{"column": named(m["position"]), "source": m["source"], "mode": m["mode"]}
            for m in query.masking]


def run_sql(session: Session, sql: str, row_limit: int | None = None,
            dialect: str = "duckdb") -> Answer:
    """Run hand-written SQL through the same guard and engine.

    ``dialect`` is the SQL's dialect (``duckdb``, ``sqlite``, ``mysql`` or ``postgres``):
    other than DuckDB's, it is transpiled and its common slips repaired first
    (:mod:`nl2sql.safety.dialects`); the guard checks the DuckDB SQL that results, and every
    repair is listed in the answer's notes.
    """
    from nl2sql.safety.dialects import to_duckdb

    limits = guard.Policy(row_limit=row_limit or session.settings.row_limit)
    started = time.perf_counter()
    transpiled = to_duckdb(sql, dialect, session.catalog, max_chars=limits.max_chars)
    draft = Draft(sql=transpiled.sql, drafter="user")
    outcome = repair.run([], _no_repair,
                         lambda s: guard.check(s, session.catalog, limits, access=session.access),
                         session.engine.run, 0, first=draft)
    answer = _answer(None, outcome, 0.0, started, session)
    if transpiled.dialect != "duckdb":
        answer.notes = [f"transpiled from {transpiled.dialect}",
                        *(f"repair {r}" for r in transpiled.repairs), *answer.notes]
    return answer
