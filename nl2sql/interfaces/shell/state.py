"""What the shell remembers between lines, and how its queries are audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nl2sql import pipeline
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import ConfigError
from nl2sql.governance import audit
from nl2sql.interfaces.output import Format
from nl2sql.values import Answer


@dataclass(frozen=True)
class Offered:
    """Readings offered for a question the offline drafter declined as ambiguous: typing
    a number from 1 to ``count`` as the next line runs that reading."""

    question: str
    count: int


@dataclass
class State:
    """What the shell remembers between lines."""

    session: pipeline.Session
    console: Any  # rich.console.Console
    format: Format = Format.TABLE
    drafter: str | None = None
    limit: int | None = None
    confirm: bool = False
    turns: list[Turn] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    last: Answer | None = None
    history: list[str] = field(default_factory=list)
    done: bool = False
    ask_yes_no: Callable[[str], bool] = lambda _prompt: True
    auditor: audit.Auditor | None = None  # set by start(): every query gets a record
    offered: Offered | None = None  # the last line's readings, for the next line only


def _audited(state: State, text: str, query: Callable[[], Answer], *, is_sql: bool,
             drafter: str | None) -> Answer:
    """Run ``query``, appending its audit record (answered or failed) when auditing."""
    if state.auditor is None:
        return query()
    return state.auditor.run(text, query, is_sql=is_sql, drafter=drafter)


def audited(state: State, text: str, query: Callable[[], Answer], *, is_sql: bool,
            drafter: str | None) -> Answer:
    """Run ``query``, appending its audit record (answered or failed) when auditing."""
    if state.auditor is None:
        return query()
    return state.auditor.run(text, query, is_sql=is_sql, drafter=drafter)


def last_answer(state: State) -> Answer:
    """The last result, for the commands that work on it (\\export, \\chart, …)."""
    if state.last is None:
        raise ConfigError("there is no result yet: ask a question first")
    return state.last
