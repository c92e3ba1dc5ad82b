"""Stage 6 — the repair loop: send a rejected or failing draft back to the model.

Guard rejections and DuckDB errors go back with the draft, at most
``max_repairs`` times; every attempt is kept, in order, for the answer and
the audit trail. Timeouts are not repaired: a slower query is not the
model's to fix, and retrying it would double the wait.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nl2sql.drafting.prompt import repair_message
from nl2sql.errors import ExecutionError, NL2SQLError, QueryTimeout, UnsafeSQL
from nl2sql.values import Attempt, Draft, GuardedQuery, Result

Drafting = Callable[[list[dict[str, str]]], Draft]


@dataclass
class Outcome:
    """The accepted draft, its guarded form and rows, plus every attempt."""

    draft: Draft
    query: GuardedQuery
    result: Result
    attempts: list[Attempt] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


def run(messages: list[dict[str, str]], draft: Drafting,
        check: Callable[[str], GuardedQuery], execute: Callable[[GuardedQuery], Result],
        max_repairs: int, first: Draft | None = None) -> Outcome:
    """Draft, guard, execute; on failure feed the error back up to ``max_repairs`` times."""
    attempts: list[Attempt] = []
    tokens = [0, 0]
    timings = {"draft": 0.0, "guard": 0.0, "execute": 0.0}
    current = first if first is not None else draft(messages)
    for round_no in range(max_repairs + 1):
        _count(current, tokens, timings)
        try:
            query, result = _try(current, check, execute, timings)
        except (UnsafeSQL, ExecutionError) as exc:
            attempts.append(_failed(current, exc))
            if isinstance(exc, QueryTimeout) or round_no == max_repairs:
                _attach(exc, attempts, tokens)
                raise
            messages = messages + repair_message(current.sql, for_model(exc.message, current.sql))
            current = draft(messages)
            continue
        attempts.append(Attempt(sql=query.sql, drafter=current.drafter, ok=True))
        return Outcome(current, query, result, attempts, tokens[0], tokens[1], timings)
    raise AssertionError("unreachable")  # pragma: no cover


# Quoted text, and long digit runs, inside an error message (not SQL: DuckDB's prose).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\d{6,}")


def for_model(message: str, sql: str) -> str:
    """The error as the model may see it: data values DuckDB quotes in its errors
    ("Could not convert string '13812345678' to INT32") are personal data the model must
    not receive; text that is already in the model's own SQL is kept.

    >>> for_model("Could not convert string '张伟' to INT32", "SELECT name + 1 FROM t")
    "Could not convert string '…' to INT32"
    """
    def scrub(match: re.Match[str]) -> str:
        text = match.group(0)
        inner = text.strip("'\"")
        if inner in sql:
            return text
        return f"{text[0]}…{text[-1]}" if text[0] in "'\"" else "…"

    return _QUOTED.sub(scrub, message)


def _try(current: Draft, check: Callable[[str], GuardedQuery],
         execute: Callable[[GuardedQuery], Result],
         timings: dict[str, float]) -> tuple[GuardedQuery, Result]:
    import time

    started = time.perf_counter()
    try:
        query = check(current.sql)
    finally:
        timings["guard"] += (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    try:
        return query, execute(query)
    finally:
        timings["execute"] += (time.perf_counter() - started) * 1000


def _count(current: Draft, tokens: list[int], timings: dict[str, float]) -> None:
    tokens[0] += current.prompt_tokens
    tokens[1] += current.completion_tokens
    timings["draft"] += current.elapsed_ms


def _failed(current: Draft, exc: NL2SQLError) -> Attempt:
    stage = "guard" if isinstance(exc, UnsafeSQL) else "execute"
    return Attempt(sql=current.sql, drafter=current.drafter, ok=False, stage=stage,
                   error=exc.to_json())


def _attach(exc: NL2SQLError, attempts: list[Attempt], tokens: list[int]) -> None:
    """Failed runs still report what was tried (for JSON output and the audit log)."""
    exc.details["attempts"] = [a.__dict__ for a in attempts]
    exc.details["tokens"] = {"prompt": tokens[0], "completion": tokens[1]}
