"""The two ways in: :func:`ask` (a question, drafted by the model or offline) and
:func:`run_sql` (hand-written SQL), each through guard → repair → execute → answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nl2sql.drafting import context as context_stage
from nl2sql.drafting import prompt, repair
from nl2sql.drafting.model_drafter import ModelDrafter
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import ConfigError, DrafterDeclined, Interrupted, ModelError, ModelRefused
from nl2sql.pipeline.session import Session, choose_drafter, model_client, schema_retriever
from nl2sql.safety import deadline, guard
from nl2sql.values import Answer, Draft, GuardedQuery, MaskedColumn, Result


def ask(session: Session, question: str, conversation: list[Turn] | None = None,
        drafter: str | None = None, row_limit: int | None = None,
        approve: Callable[[str], bool] | None = None, reading: int | None = None) -> Answer:
    """Answer ``question`` with rows, the SQL and how it was obtained.

    ``approve`` (the shell's ``\\confirm on``) sees each model draft after the guard
    accepted it and before it runs; returning False stops with :class:`Interrupted`.
    ``reading``: the N-th reading the offline drafter offered when it declined an
    ambiguous question (a person chose it); drafted offline whatever ``drafter`` says, and
    guarded and run under the session's role like any draft.
    """
    question = _clean_question(question)
    kind = "offline" if reading is not None else choose_drafter(session.settings, drafter)
    started = time.perf_counter()
    ctx = _context(session, question, kind)
    messages = prompt.build(question, ctx, conversation)
    context_ms = (time.perf_counter() - started) * 1000
    guarded, execute = _bounded(session, row_limit)
    check = _approving(guarded, approve if kind == "model" else None)
    if kind == "offline":
        first = _offline_draft(session, question, conversation, reading)
        outcome = repair.run(messages, _no_repair, check, execute, 0, first=first)
        return _answer(question, outcome, context_ms, started, session)
    model = ModelDrafter(model_client(session))
    draft_fn = _with_dialect_repairs(model.draft, session)
    try:
        outcome = repair.run(messages, draft_fn, check, execute, session.settings.max_repairs)
    except ModelError as exc:
        if (drafter or session.settings.drafter) != "auto" or isinstance(exc, ModelRefused):
            raise
        answer = _fallback(session, question, conversation, check, execute, exc, context_ms,
                           started)
        return answer
    answer = _answer(question, outcome, context_ms, started, session)
    answer.notes += ctx.notes  # e.g. retrieval unavailable: the tables came from words only
    return answer


def _context(session: Session, question: str, kind: str) -> context_stage.Context:
    """The question's context from the role's view of the catalog (retrieval embeds
    nothing else); a big catalog asks the schema retriever when a model will draft (the
    offline drafter reads the catalog itself), and when the retriever cannot be made,
    the words alone choose and the answer says so."""
    catalog = session.drafting_catalog
    retriever = None
    notes: list[str] = []
    if kind == "model" and len(catalog.tables) > context_stage.WHOLE_CATALOG_UP_TO:
        try:
            retriever = schema_retriever(session)
        except ConfigError as exc:
            notes.append(f"schema retrieval unavailable ({exc.message}); tables chosen by "
                         "word matching only")
    ctx = context_stage.select(question, catalog, retriever)
    ctx.notes = notes + ctx.notes
    return ctx


def _bounded(session: Session, row_limit: int | None, before: float = 0.0,
             ) -> tuple[Callable[[str], GuardedQuery], Callable[[GuardedQuery], Result]]:
    """The guard and the engine under one query timeout: checking a query counts toward
    it (the guard is stopped when it takes it all), and the query runs for what is left.
    ``before``: seconds already spent on the query (transpiling it)."""
    timeout = session.settings.query_timeout
    limits = guard.Policy(row_limit=row_limit or session.settings.row_limit,
                          timeout=max(timeout - before, 0.0))
    spent = [before]  # seconds the last check took (a person approving it is not counted)

    def check(sql: str) -> GuardedQuery:
        started = time.perf_counter()
        try:
            return guard.check(sql, session.catalog, limits, access=session.access)
        finally:
            spent[0] = before + time.perf_counter() - started

    def execute(query: GuardedQuery) -> Result:
        return session.engine.run(query, timeout=timeout - spent[0])

    return check, execute


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
    if session.source.kind != "sqlite":  # drafts are DuckDB SQL; a server's is made later
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
              check: Callable[[str], GuardedQuery], execute: Callable[[GuardedQuery], Result],
              exc: ModelError, context_ms: float, started: float) -> Answer:
    """With ``--drafter auto`` an unreachable model falls back to the offline drafter."""
    try:
        first = _offline_draft(session, question, conversation)
    except DrafterDeclined:
        raise exc from None
    outcome = repair.run([], _no_repair, check, execute, 0, first=first)
    answer = _answer(question, outcome, context_ms, started, session)
    answer.notes.insert(0, f"model unavailable ({exc.message}); answered by the offline drafter")
    return answer


def _no_repair(messages: list[dict[str, str]]) -> Draft:
    raise AssertionError("the offline drafter is never asked to repair")  # pragma: no cover


def _offline_draft(session: Session, question: str, conversation: list[Turn] | None,
                   reading: int | None = None) -> Draft:
    from nl2sql.drafting.offline import draft

    # the role's catalog: a reading's SQL, shown in a decline, names only what it may see
    return draft(question, session.drafting_catalog, conversation, reading=reading)


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
        notes=(outcome.query.notes + _masking_notes(masking, session.access.role)
               + session.catalog.notes  # the policy's own: on every answer
               + _server_notes(session)),
        database=session.catalog.name, tables_read=list(outcome.query.tables),
        columns_read=list(outcome.query.columns), role=session.access.role,
        masking=masking, confidence=outcome.draft.confidence,
        assumptions=list(outcome.draft.assumptions))


def _server_notes(session: Session) -> list[str]:
    """On a server: that the query ran there, and whether the login could write."""
    warning = getattr(session.engine, "warning", None)
    return [warning] if warning else []


def _masking_notes(masking: list[MaskedColumn], role: str) -> list[str]:
    shown = [f"{m.column} ({m.source}, {m.mode})" for m in masking]
    return [f"masked for role {role}: {', '.join(shown)}"] if shown else []


def _masking(query: GuardedQuery, columns: list[str]) -> list[MaskedColumn]:
    """The guard's per-position masking report, named by the result's columns."""
    def named(position: int | None) -> str:
        return columns[position] if position is not None and position < len(columns) else "*"

    return [MaskedColumn(named(m.position), m.source, m.mode) for m in query.masking]


def run_sql(session: Session, sql: str, row_limit: int | None = None,
            dialect: str = "duckdb") -> Answer:
    """Run hand-written SQL through the same guard and engine.

    ``dialect`` is the SQL's dialect (``duckdb``, ``sqlite``, ``mysql`` or ``postgres``):
    other than DuckDB's, it is transpiled and its common slips repaired first
    (:mod:`nl2sql.safety.dialects`); the guard checks the DuckDB SQL that results, and every
    repair is listed in the answer's notes.
    """
    from nl2sql.safety.dialects import to_duckdb

    if not sql.strip():  # an input error, like an empty question (the guard's own "empty"
        raise ConfigError("the SQL is empty")  # refusal is for a model's empty draft)
    started = time.perf_counter()
    with deadline.time_limit(session.settings.query_timeout):  # transpiling is checking too
        transpiled = to_duckdb(sql, dialect, session.catalog, max_chars=guard.Policy.max_chars)
    draft = Draft(sql=transpiled.sql, drafter="user")
    check, execute = _bounded(session, row_limit, before=time.perf_counter() - started)
    outcome = repair.run([], _no_repair, check, execute, 0, first=draft)
    answer = _answer(None, outcome, 0.0, started, session)
    if transpiled.dialect != "duckdb":
        answer.notes = [f"transpiled from {transpiled.dialect}",
                        *(f"repair {r}" for r in transpiled.repairs), *answer.notes]
    return answer
